/**
 * Argo CD health checks (charts/attestor/health/*.lua) run as Argo CD runs them: in gopher-lua
 * (Lua 5.1), by bin/lua-health (hack/lua-health, built by hack/build-go-tool on first use).
 */
import { resolve } from 'node:path';
import { projectRoot } from '../../src/dev/control-plane.ts';
import { buildGoTool, GO_TOOL_BUILD_TIMEOUT_MS, runGoTool } from './go-tool.ts';

export const LUA_HEALTH_BUILD_TIMEOUT_MS = GO_TOOL_BUILD_TIMEOUT_MS;

export function buildLuaHealth(): Promise<string> {
  return buildGoTool('lua-health');
}

export interface Health {
  status: 'Healthy' | 'Progressing' | 'Degraded' | 'Suspended' | 'Missing' | 'Unknown';
  message: string;
}

/** The health Argo CD would give `object` with the check `script` (relative to the repository root, or absolute). */
export async function luaHealth(script: string, object: unknown): Promise<Health> {
  return (await runGoTool('lua-health', [resolve(projectRoot, script)], object)) as Health;
}
