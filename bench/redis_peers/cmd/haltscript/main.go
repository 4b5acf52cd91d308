// Command haltscript prints the Lua source of haltredis's decision script,
// for `redis-cli SCRIPT LOAD` and redis-benchmark (see ../../run.sh).
package main

import (
	"fmt"

	haltredis "github.com/halt-go/halt/stores/redis"
)

func main() { fmt.Print(haltredis.ScriptSource()) }
