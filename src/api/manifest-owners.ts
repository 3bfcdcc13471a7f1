/**
 * Who may change the Manifest. A Manifest may list owner keys in `spec.owners`:
 * - absent: any valid Manifest may replace it (the newest valid one is active, as without owners);
 * - present: a successor replaces it only with a signature by one of those owners, in the
 *   successor's annotation `attestor.dev/signature`, over the successor's canonical hash and naming
 *   this Manifest's hash as the one replaced (manifest-signature.ts); one owner's signature suffices;
 * - empty: nothing may replace it (an immutable deployment).
 * Pure: the active-Manifest rule (active-manifest.ts) and the Coordinator's transition chain both
 * ask `successorProblems(current, candidate)`.
 */
import type { Manifest } from './manifest.ts';
import { memoizedManifestHash } from './manifest-hash.ts';
import {
  checkOwnerSignature,
  MAX_SIGNATURES,
  type OwnerKey,
  ownerKeyProblem,
  ownerLabel,
  ownerThumbprint,
  SIGNATURE_ANNOTATION,
  splitSignatures,
} from './manifest-signature.ts';
import type { FieldProblem } from './manifest-validation.ts';

export interface SuccessorJudgement {
  /** The owner of `current` whose signature lets the candidate replace it (none needed: undefined). */
  signer?: OwnerKey;
  /** Why the candidate may not replace `current`; empty when it may. */
  problems: FieldProblem[];
}

const SIGNATURE_PATH = `metadata.annotations["${SIGNATURE_ANNOTATION}"]`;

/**
 * Whether `candidate` may replace `current` as far as owners go (validity and age are the
 * active-Manifest rule's business). Both hashes are computed from the specs, never read from status.
 */
export function judgeSuccessor(current: Manifest, candidate: Manifest): SuccessorJudgement {
  const owners = current.spec.owners;
  if (owners === undefined) return { problems: [] };
  const replaces = memoizedManifestHash(current.spec);
  const name = current.metadata.name ?? '(unnamed)';
  if (owners.length === 0)
    return {
      problems: [
        {
          path: 'spec.owners',
          message: `Manifest ${name} (${replaces}) lists no owners: it is immutable and nothing may replace it`,
        },
      ],
    };
  const hash = memoizedManifestHash(candidate.spec);
  const annotation = candidate.metadata.annotations?.[SIGNATURE_ANNOTATION];
  const key = `${replaces}\n${hash}\n${annotation ?? ''}`;
  const cached = memo.get(key);
  if (cached) return cached;
  const judgement = judge({ name, replaces, hash, owners, annotation });
  if (memo.size >= MEMO_LIMIT) memo.clear();
  memo.set(key, judgement);
  return judgement;
}

/** Why `candidate` may not replace `current` (empty: it may). */
export function successorProblems(current: Manifest, candidate: Manifest): FieldProblem[] {
  return judgeSuccessor(current, candidate).problems;
}

/** The owners of a Manifest, as status and events name them. */
export function ownersDescription(owners: readonly OwnerKey[]): string {
  return owners.map(ownerLabel).join(', ');
}

/** Problems of spec.owners the schema cannot see: keys off their curve, one key listed twice. */
export function ownersProblems(owners: readonly OwnerKey[] | undefined): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const seen = new Set<string>();
  (owners ?? []).forEach((owner, i) => {
    const path = `spec.owners[${i}]`;
    const problem = ownerKeyProblem(owner);
    if (problem) {
      problems.push({ path, message: problem });
      return;
    }
    const kid = ownerThumbprint(owner);
    if (seen.has(kid)) problems.push({ path, message: `the same key as an earlier owner (kid ${kid})` });
    seen.add(kid);
  });
  return problems;
}

// Verifying costs up to one signature check per signature; the webhook asks on every request.
const MEMO_LIMIT = 1024;
const memo = new Map<string, SuccessorJudgement>();

function judge(c: {
  name: string;
  replaces: string;
  hash: string;
  owners: readonly OwnerKey[];
  annotation: string | undefined;
}): SuccessorJudgement {
  const need = `a signature by an owner of Manifest ${c.name} (${ownersDescription(c.owners)}) over ${c.hash}, naming ${c.replaces} as replaced (attestor manifest sign)`;
  const signatures = splitSignatures(c.annotation);
  if (signatures.length === 0) return { problems: [{ path: SIGNATURE_PATH, message: `not signed: needs ${need}` }] };
  const problems: FieldProblem[] = [];
  if (signatures.length > MAX_SIGNATURES)
    problems.push({ path: SIGNATURE_PATH, message: `only the first ${MAX_SIGNATURES} signatures are read` });
  for (const [i, jws] of signatures.slice(0, MAX_SIGNATURES).entries()) {
    const check = checkOwnerSignature(jws, { hash: c.hash, replaces: c.replaces, owners: c.owners });
    if ('owner' in check) return { signer: check.owner, problems: [] };
    problems.push({ path: `${SIGNATURE_PATH}[${i}]`, message: check.problem });
  }
  problems.push({ path: SIGNATURE_PATH, message: `no valid signature: needs ${need}` });
  return { problems };
}

/**
 * Held by the Manifest controller on the current Manifest while it lists owners, so that deleting
 * it leaves it in place (and active) until a Manifest one of its owners signed replaces it.
 */
export const OWNERS_FINALIZER = 'attestor.dev/owners';
