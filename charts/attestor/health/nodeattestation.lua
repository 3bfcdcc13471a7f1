-- Argo CD health check for attestor.dev/NodeAttestation
-- (resource.customizations.health.attestor.dev_NodeAttestation). The operator creates these, one
-- per GPU node; Argo CD shows them where an Application tracks them. Reads the kstatus conditions
-- the Coordinator writes: Stalled=True is Degraded (evidence or the GPU read-back refused),
-- Ready=True is Healthy (CVM and GPUs attested and activated), anything else Progressing (no
-- evidence yet, activation pending, attesting again under a new Manifest). Expiry closes the node
-- (its EXPIRES column) without a status write, so Ready stays as it was: a health check has no
-- clock to compare with. Lua 5.1, as Argo CD runs it.
local hs = { status = "Progressing", message = "waiting for the node agent to submit evidence" }
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
local found = {}
for _, c in ipairs(obj.status.conditions) do
  found[c.type] = c
end
if found.Stalled ~= nil and found.Stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = found.Stalled.reason .. ": " .. found.Stalled.message
  return hs
end
if found.Ready ~= nil and found.Ready.status == "True" then
  hs.status = "Healthy"
  hs.message = found.Ready.reason .. ": " .. found.Ready.message
  return hs
end
if found.Ready ~= nil then
  hs.message = found.Ready.reason .. ": " .. found.Ready.message
end
return hs
