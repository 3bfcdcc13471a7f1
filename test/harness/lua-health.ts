/**
 * Argo CD health checks (charts/attestor/health/*.lua) run as Argo CD runs them: in gopher-lua
 * (Lua 5.1), by bin/lua-health, which hack/build-lua-health builds on first use (a no-op when
 * current), so that only these tests wait for Go.
 */
import { execFile, spawn } from 'node:child_process';
import { join, resolve as resolvePath } from 'node:path';
import { defaultBinDir, projectRoot } from '../../src/dev/control-plane.ts';

/** Time for a cold build (module download and compile) on a loaded 2-core machine. */
export const LUA_HEALTH_BUILD_TIMEOUT_MS = 10 * 60_000;

let built: Promise<string> | undefined;

export function buildLuaHealth(): Promise<string> {
  built ??= new Promise<string>((resolve, reject) => {
    const child = spawn(join(projectRoot, 'hack/build-lua-health'), { stdio: ['ignore', 'ignore', 'inherit'] });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0
        ? resolve(join(defaultBinDir, 'lua-health'))
        : reject(new Error(`hack/build-lua-health exited with ${code}`)),
    );
  });
  return built;
}

export interface Health {
  status: 'Healthy' | 'Progressing' | 'Degraded' | 'Suspended' | 'Missing' | 'Unknown';
  message: string;
}

/** The health Argo CD would give `object` with the check `script` (relative to the repository root, or absolute). */
export async function luaHealth(script: string, object: unknown): Promise<Health> {
  const bin = await buildLuaHealth();
  return new Promise<Health>((resolve, reject) => {
    const child = execFile(bin, [resolvePath(projectRoot, script)], { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`lua-health ${script}: ${stderr || err.message}`));
      else resolve(JSON.parse(stdout) as Health);
    });
    child.stdin!.end(JSON.stringify(object));
  });
}
