/**
 * The small Go tools in hack/ that tests run (lua-health: Argo CD's health checks in gopher-lua;
 * kstatus: sigs.k8s.io/cli-utils' status computation), built into bin/ by hack/build-go-tool on
 * first use (a no-op when current), so that only these tests wait for Go. Each reads an object as
 * JSON on stdin and prints {status, message}.
 */
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { defaultBinDir, projectRoot } from '../../src/dev/control-plane.ts';

export type GoTool = 'lua-health' | 'kstatus';

/** Time for a cold build (module download and compile) on a loaded 2-core machine. */
export const GO_TOOL_BUILD_TIMEOUT_MS = 10 * 60_000;

const built = new Map<GoTool, Promise<string>>();

export function buildGoTool(name: GoTool): Promise<string> {
  let done = built.get(name);
  if (!done) {
    done = new Promise<string>((resolve, reject) => {
      const child = spawn(join(projectRoot, 'hack/build-go-tool'), [name], { stdio: ['ignore', 'ignore', 'inherit'] });
      child.once('error', reject);
      child.once('exit', (code) =>
        code === 0
          ? resolve(join(defaultBinDir, name))
          : reject(new Error(`hack/build-go-tool ${name} exited with ${code}`)),
      );
    });
    built.set(name, done);
  }
  return done;
}

export interface ToolResult {
  status: string;
  message: string;
}

/** Runs a built tool on one object. */
export async function runGoTool(name: GoTool, args: readonly string[], object: unknown): Promise<ToolResult> {
  const bin = await buildGoTool(name);
  return new Promise<ToolResult>((resolve, reject) => {
    const child = execFile(bin, [...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${name} ${args.join(' ')}: ${stderr || err.message}`));
      else resolve(JSON.parse(stdout) as ToolResult);
    });
    child.stdin!.end(JSON.stringify(object));
  });
}
