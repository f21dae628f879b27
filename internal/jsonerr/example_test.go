package jsonerr_test

import (
	"encoding/json"
	"fmt"

	"github.com/saslkit/saslkit/internal/jsonerr"
)

func ExampleKind() {
	var v struct {
		Expiry int64 `json:"expiry"`
	}
	err := json.Unmarshal([]byte(`{"expiry":"ya29.a-token"}`), &v)
	fmt.Println(jsonerr.Kind(err))
	// Output:
	// wrong JSON type for field "expiry"
}
