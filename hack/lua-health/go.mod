// Runs Argo CD resource health checks (Lua) the way Argo CD does: in gopher-lua (Lua 5.1).
module attestor.dev/hack/lua-health

go 1.26.0

require github.com/yuin/gopher-lua v1.1.2
