/**
 * The evidence list NVIDIA's attestation SDK (nv-attestation-sdk) writes for a node's GPUs:
 * `[{"arch": "HOPPER", "certificate": base64(PEM chain), "evidence": base64(report), "nonce": hex}]`.
 * Some SDK versions wrap it as `{"evidence_list": [...], ...}`; both are accepted.
 */

import { errorMessage } from '../../errors.ts';
import type { GpuArchitecture } from '../reference-values.ts';
import { ParseError } from '../verdict.ts';

export interface GpuEvidenceItem {
  readonly architecture: GpuArchitecture;
  /** PEM text, leaf first. */
  readonly certificateChain: string;
  readonly report: Uint8Array;
  /** The nonce the SDK says it used (hex); the verifier trusts only the one in the signed request. */
  readonly nonce?: string;
}

const ARCHITECTURES: readonly string[] = ['HOPPER', 'BLACKWELL'];
/** Far above a real list (8 GPUs, ~15 KiB each); a bound keeps a hostile file from costing much. */
const MAX_ITEMS = 64;

/** Parses the JSON text; throws ParseError (check `gpu.evidence`) with the path of what is wrong. */
export function parseEvidenceList(json: string): GpuEvidenceItem[] {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new ParseError('gpu.evidence', `evidence list is not JSON: ${errorMessage(err)}`);
  }
  if (isObject(value) && Array.isArray(value.evidence_list)) value = value.evidence_list;
  if (!Array.isArray(value))
    throw new ParseError(
      'gpu.evidence',
      'evidence list: expected a JSON array of {arch, certificate, evidence, nonce}',
    );
  if (value.length === 0) throw new ParseError('gpu.evidence', 'evidence list is empty');
  if (value.length > MAX_ITEMS)
    throw new ParseError('gpu.evidence', `evidence list has ${value.length} entries, more than ${MAX_ITEMS}`);
  return value.map((item, i): GpuEvidenceItem => {
    const at = `[${i}]`;
    if (!isObject(item)) throw new ParseError('gpu.evidence', `${at}: expected an object`);
    const arch = item.arch;
    if (typeof arch !== 'string' || !ARCHITECTURES.includes(arch.toUpperCase()))
      throw new ParseError('gpu.evidence', `${at}.arch: expected HOPPER or BLACKWELL, got ${JSON.stringify(arch)}`);
    const certificate = base64Field(item.certificate, `${at}.certificate`).toString('utf8');
    if (!certificate.includes('-----BEGIN CERTIFICATE-----'))
      throw new ParseError('gpu.evidence', `${at}.certificate: expected base64 of a PEM certificate chain`);
    const report = new Uint8Array(base64Field(item.evidence, `${at}.evidence`));
    const out: { -readonly [K in keyof GpuEvidenceItem]: GpuEvidenceItem[K] } = {
      architecture: arch.toUpperCase() as GpuArchitecture,
      certificateChain: certificate,
      report,
    };
    if (item.nonce !== undefined) {
      if (typeof item.nonce !== 'string' || !/^[0-9a-fA-F]*$/.test(item.nonce))
        throw new ParseError('gpu.evidence', `${at}.nonce: expected hex`);
      out.nonce = item.nonce.toLowerCase();
    }
    return out;
  });
}

function base64Field(value: unknown, path: string): Buffer {
  if (typeof value !== 'string' || value.length === 0)
    throw new ParseError('gpu.evidence', `${path}: expected a base64 string`);
  const compact = value.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1)
    throw new ParseError('gpu.evidence', `${path}: not base64`);
  return Buffer.from(compact, 'base64');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
