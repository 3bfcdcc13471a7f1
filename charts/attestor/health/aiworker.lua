-- Argo CD health check for attestor.dev/AIWorker (resource.customizations.health.attestor.dev_AIWorker).
-- Reads the kstatus conditions the operator writes: Stalled=True is Degraded (the worker breaks the
-- active Manifest or its policy cannot be read: held at 0 replicas), Ready=True is Healthy (every
-- desired replica ready and attested), anything else Progressing (replicas starting, waiting for
-- attested nodes or workload certificates). Lua 5.1, as Argo CD runs it.
local hs = { status = "Progressing", message = "waiting for the attestor operator to report status" }
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
local generation = obj.metadata.generation
if generation ~= nil and (obj.status.observedGeneration == nil or obj.status.observedGeneration < generation) then
  hs.message = "the attestor operator has not acted on the latest spec yet"
  return hs
end
local found = {}
for _, c in ipairs(obj.status.conditions) do
  found[c.type] = c
end
if found.Stalled ~= nil and found.Stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = found.Stalled.reason .. ": " .. found.Stalled.message
  if found.PolicyCompliant ~= nil and found.PolicyCompliant.status == "False" then
    hs.message = hs.message .. ": " .. found.PolicyCompliant.message
  end
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
