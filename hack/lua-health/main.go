// Command lua-health runs an Argo CD resource health check (Lua) on one object, as Argo CD's
// util/lua does: gopher-lua (Lua 5.1) with the base, table, string and math libraries, the object
// as the global `obj` (JSON maps become tables, arrays tables indexed from 1, numbers float64),
// and the script's returned table read as {status, message}.
//
// Usage: lua-health SCRIPT.lua < object.json   prints {"status":"...","message":"..."}
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	lua "github.com/yuin/gopher-lua"
)

// The statuses Argo CD's health package knows (health.HealthStatusCode).
var known = map[string]bool{
	"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true,
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: lua-health SCRIPT.lua < object.json")
		os.Exit(2)
	}
	script, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(input, &obj); err != nil {
		fail(fmt.Errorf("object: %w", err))
	}
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
	} {
		l.Push(l.NewFunction(lib.open))
		l.Push(lua.LString(lib.name))
		l.Call(1, 0)
	}
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(string(script)); err != nil {
		fail(err)
	}
	table, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		fail(fmt.Errorf("the script returned %s, not a table", l.Get(-1).Type()))
	}
	status := lua.LVAsString(table.RawGetString("status"))
	if !known[status] {
		fail(fmt.Errorf("the script returned status %q, which Argo CD does not know", status))
	}
	out, _ := json.Marshal(map[string]string{"status": status, "message": lua.LVAsString(table.RawGetString("message"))})
	fmt.Println(string(out))
}

func toLua(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		t := l.NewTable()
		for k, e := range v {
			t.RawSetString(k, toLua(l, e))
		}
		return t
	case []any:
		t := l.NewTable()
		for i, e := range v {
			t.RawSetInt(i+1, toLua(l, e))
		}
		return t
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case bool:
		return lua.LBool(v)
	default:
		return lua.LNil
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "lua-health:", err)
	os.Exit(1)
}
