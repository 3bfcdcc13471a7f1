-- Argo CD health check for attestor.dev/Manifest (resource.customizations.health.attestor.dev_Manifest).
-- Reads the kstatus conditions the operator writes: Stalled=True is Degraded (an invalid spec, a
-- successor its predecessor's owners did not sign), Ready=True is Healthy (the active Manifest, or
-- a valid one kept for roll-back), anything else Progressing. Lua 5.1, as Argo CD runs it.
local hs = { status = "Progressing", message = "waiting for the attestor operator to judge this Manifest" }
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
local generation = obj.metadata.generation
if generation ~= nil and (obj.status.observedGeneration == nil or obj.status.observedGeneration < generation) then
  hs.message = "the attestor operator has not judged the latest spec yet"
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
  if found.Relaxed ~= nil and found.Relaxed.status == "True" then
    hs.message = hs.message .. " (relaxed: " .. found.Relaxed.message .. ")"
  end
  return hs
end
if found.Ready ~= nil then
  hs.message = found.Ready.reason .. ": " .. found.Ready.message
end
return hs
