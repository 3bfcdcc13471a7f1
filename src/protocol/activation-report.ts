/**
 * The activation report (POST /v1/activate): after it activated the GPUs with a grant, the agent
 * reports the ready state it read back, signed (compact JWS, ES256) with the key its evidence
 * binds. The Coordinator reads the payload first, to learn which grant (and so which key) it
 * names, and only then checks the signature against that key.
 */
import * as jose from 'jose';
import type { ActivationReport } from './messages.ts';

/** The JWS `typ` header of an activation report. */
export const ACTIVATION_REPORT_TYPE = 'attestor-activation+jws';

export async function signActivationReport(report: ActivationReport, agentKey: jose.CryptoKey): Promise<string> {
  return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(report)))
    .setProtectedHeader({ alg: 'ES256', typ: ACTIVATION_REPORT_TYPE })
    .sign(agentKey);
}

/**
 * The report's payload, NOT yet authenticated (verifyActivationReport does that), with its members
 * read as the Coordinator uses them: a GPU list that is not a list is empty, a ready state that is
 * not `true` is false.
 */
export function readActivationReport(jws: string): ActivationReport | { error: string } {
  let payload: unknown;
  try {
    payload = JSON.parse(new TextDecoder().decode(jose.base64url.decode(jws.split('.')[1] ?? '')));
  } catch {
    return { error: 'the activation report is not a compact JWS with a JSON payload' };
  }
  if (!payload || typeof payload !== 'object') return { error: 'the activation report is not a JSON object' };
  const report = payload as Partial<Record<keyof ActivationReport, unknown>>;
  return {
    grant: String(report.grant),
    gpusReady: report.gpusReady === true,
    gpus: Array.isArray(report.gpus) ? report.gpus.map(String) : [],
  };
}

/** Whether the report is signed by this agent key (ES256). */
export async function verifyActivationReport(jws: string, agentKey: jose.JWK): Promise<boolean> {
  try {
    await jose.compactVerify(jws, await jose.importJWK(agentKey, 'ES256'), { algorithms: ['ES256'] });
    return true;
  } catch {
    return false;
  }
}
