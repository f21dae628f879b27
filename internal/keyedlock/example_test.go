package keyedlock_test

import (
	"context"
	"fmt"

	"github.com/saslkit/saslkit/internal/keyedlock"
)

func ExampleSet() {
	var locks keyedlock.Set
	unlock, err := locks.Lock(context.Background(), "alice@example.com")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("locked:", locks.Len())
	unlock()
	fmt.Println("locked:", locks.Len())
	// Output:
	// locked: 1
	// locked: 0
}
