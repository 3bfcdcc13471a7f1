/**
 * The node agent's side of confidential-node workload certificates: a pod on this node asks the
 * agent to countersign its key. The agent learns who asks from the pod's projected token (audience
 * attestor-node-agent, TokenReview: the pod's name and UID), reads the pod from the API server to
 * see that it runs on this node and is not being deleted, checks the proof of possession, and
 * signs {node, pod, UID, SHA-256 of the SPKI, nonce, Manifest, time} with the agent key its
 * node's evidence bound. The Coordinator checks all of it again; the agent refuses early so that it
 * vouches only for its own pods. HTTP is in countersign-server.ts.
 */
import type * as k8s from '@kubernetes/client-node';
import {
  type CountersignRequest,
  type CountersignResponse,
  proofProblem,
  spkiSha256,
} from '../protocol/countersignature.ts';

/** Whose token it is (TokenReview): the pod it is bound to, or why none (src/coordinator/workload-auth.ts gives one). */
export type TokenOwner =
  | { ok: true; namespace: string; name: string; uid: string }
  | { ok: false; status: 401 | 403; reason: string };

export interface CountersignerDeps {
  /** This node. */
  node: string;
  /** TokenReview of the pod's token (audience attestor-node-agent). */
  authenticate(authorization: string | undefined): Promise<TokenOwner>;
  /** The pod as the API server has it now; undefined when gone. */
  readPod(namespace: string, name: string): Promise<k8s.V1Pod | undefined>;
  /** The agent key's signature, or why not: the node was refused (final) or is not attested yet (NodeAgent.countersign). */
  sign(
    pod: { namespace: string; pod: string; podUid: string; spkiSha256: string; nonce: string },
    now: Date,
  ): Promise<{ ok: true; countersignature: string } | { ok: false; final: boolean; reason: string }>;
  now?: () => Date;
}

export interface CountersignAnswer {
  status: 200 | 400 | 401 | 403 | 503;
  body: CountersignResponse;
}

export class Countersigner {
  readonly #deps: CountersignerDeps;

  constructor(deps: CountersignerDeps) {
    this.#deps = deps;
  }

  async countersign(authorization: string | undefined, request: CountersignRequest): Promise<CountersignAnswer> {
    const r = request as unknown as Record<string, unknown> | undefined;
    if (
      typeof r?.nonce !== 'string' ||
      !/^[0-9a-f]{64}$/.test(r.nonce) ||
      typeof r.spki !== 'string' ||
      typeof r.proof !== 'string'
    )
      return { status: 400, body: { error: 'expected {"nonce": hex, "spki": base64url DER, "proof": compact JWS}' } };
    const caller = await this.#deps.authenticate(authorization);
    if (!caller.ok) return { status: caller.status, body: { error: caller.reason } };
    const name = `${caller.namespace}/${caller.name}`;
    const pod = await this.#deps.readPod(caller.namespace, caller.name);
    if (!pod || pod.metadata?.uid !== caller.uid || pod.metadata.deletionTimestamp)
      return { status: 403, body: { error: `pod ${name} (UID ${caller.uid}) does not exist or is being deleted` } };
    if (pod.spec?.nodeName !== this.#deps.node)
      return {
        status: 403,
        body: { error: `pod ${name} runs on ${pod.spec?.nodeName ?? 'no node'}, not on node ${this.#deps.node}` },
      };
    const spkiDer = new Uint8Array(Buffer.from(request.spki, 'base64url'));
    const problem = await proofProblem(request.proof, spkiDer, request.nonce);
    if (problem) return { status: 403, body: { error: problem } };
    const now = (this.#deps.now ?? (() => new Date()))();
    const signed = await this.#deps.sign(
      {
        namespace: caller.namespace,
        pod: caller.name,
        podUid: caller.uid,
        spkiSha256: spkiSha256(spkiDer),
        nonce: request.nonce,
      },
      now,
    );
    // A node the Coordinator refused vouches for nobody (403: the pod is refused); one not answered yet, later (503).
    if (!signed.ok) return { status: signed.final ? 403 : 503, body: { error: signed.reason } };
    return { status: 200, body: { countersignature: signed.countersignature } };
  }
}
