/**
 * kstatus as Flux and kpt compute it (sigs.k8s.io/cli-utils pkg/kstatus/status.Compute), by
 * bin/kstatus (hack/kstatus, built by hack/build-go-tool on first use).
 */
import { buildGoTool, GO_TOOL_BUILD_TIMEOUT_MS, runGoTool } from './go-tool.ts';

export const KSTATUS_BUILD_TIMEOUT_MS = GO_TOOL_BUILD_TIMEOUT_MS;

export function buildKstatus(): Promise<string> {
  return buildGoTool('kstatus');
}

export interface KStatus {
  status: 'InProgress' | 'Failed' | 'Current' | 'Terminating' | 'NotFound' | 'Unknown';
  message: string;
}

export async function kstatus(object: unknown): Promise<KStatus> {
  return (await runGoTool('kstatus', [], object)) as KStatus;
}
