/**
 * Who is calling the Coordinator: the agent presents its service account token, the API server
 * says whose it is (TokenReview). Only the configured agent service accounts are accepted, and a
 * pod-bound token names the node its pod runs on: that is the only node it may speak for. A peer
 * replica (peer recovery) presents the operator's own service account token, with its own
 * audience: the first filter before its CVM evidence is looked at.
 */
import type * as k8s from '@kubernetes/client-node';
import { apiTokenReviewer, TokenReviewCache, type TokenReviewCacheOptions } from './token-review-cache.ts';

export const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';
const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';

export type Caller = { ok: true; username: string; node: string } | { ok: false; status: 401 | 403; reason: string };

export interface Authenticator {
  authenticate(authorization: string | undefined): Promise<Caller>;
}

/**
 * `caller`: whom rates and nonces are charged to: the username and, for a pod-bound token (the
 * chart's projected one), the pod, so that one replica cannot use up the others' rate.
 */
export type PeerCaller =
  | { ok: true; username: string; caller: string }
  | { ok: false; status: 401 | 403; reason: string };

export interface PeerAuthenticator {
  authenticatePeer(authorization: string | undefined): Promise<PeerCaller>;
}

/** The operator's replicas: their service account's token, for the peer audience. */
export class TokenReviewPeerAuthenticator implements PeerAuthenticator {
  readonly #reviews: TokenReviewCache;
  readonly #allowed: ReadonlySet<string>;
  readonly #audiences: string[];

  /**
   * @param operatorUsernames e.g. system:serviceaccount:attestor-system:attestor-operator
   * @param cache how long a successful review is reused (token-review-cache.ts)
   */
  constructor(
    kubeConfig: k8s.KubeConfig,
    operatorUsernames: readonly string[],
    audiences: string[],
    cache?: TokenReviewCacheOptions,
  ) {
    this.#reviews = new TokenReviewCache(apiTokenReviewer(kubeConfig), cache);
    this.#allowed = new Set(operatorUsernames);
    this.#audiences = audiences;
  }

  async authenticatePeer(authorization: string | undefined): Promise<PeerCaller> {
    const reviewed = await review(this.#reviews, authorization, this.#audiences, 'the operator service account token');
    if (!reviewed.ok) return reviewed;
    if (!this.#allowed.has(reviewed.username))
      return { ok: false, status: 403, reason: `${reviewed.username} is not the attestor operator` };
    const pod = reviewed.extra?.[POD_NAME_EXTRA]?.[0];
    return { ok: true, username: reviewed.username, caller: pod ? `${reviewed.username}/${pod}` : reviewed.username };
  }
}

export class TokenReviewAuthenticator implements Authenticator {
  readonly #reviews: TokenReviewCache;
  readonly #allowed: ReadonlySet<string>;
  readonly #audiences: string[] | undefined;

  /**
   * @param agentUsernames e.g. system:serviceaccount:attestor-system:attestor-agent
   * @param audiences token audiences to require (the agent's projected token audience), if any
   * @param cache how long a successful review is reused (token-review-cache.ts)
   */
  constructor(
    kubeConfig: k8s.KubeConfig,
    agentUsernames: readonly string[],
    audiences?: string[],
    cache?: TokenReviewCacheOptions,
  ) {
    this.#reviews = new TokenReviewCache(apiTokenReviewer(kubeConfig), cache);
    this.#allowed = new Set(agentUsernames);
    this.#audiences = audiences;
  }

  async authenticate(authorization: string | undefined): Promise<Caller> {
    const reviewed = await review(this.#reviews, authorization, this.#audiences, 'the agent service account token');
    if (!reviewed.ok) return reviewed;
    const { username, extra } = reviewed;
    if (!this.#allowed.has(username)) return { ok: false, status: 403, reason: `${username} is not an attestor agent` };
    const node = extra?.[NODE_NAME_EXTRA]?.[0];
    if (!node)
      return {
        ok: false,
        status: 403,
        reason: 'the token is not bound to a pod on a node (use a projected service account token)',
      };
    return { ok: true, username, node };
  }
}

/** TokenReview of a bearer token: whose it is, or why it is not accepted (401). */
async function review(
  reviews: TokenReviewCache,
  authorization: string | undefined,
  audiences: string[] | undefined,
  what: string,
): Promise<
  | { ok: true; username: string; extra: Record<string, string[]> | undefined }
  | { ok: false; status: 401; reason: string }
> {
  const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
  if (!token) return { ok: false, status: 401, reason: `a bearer token (${what}) is required` };
  const status = await reviews.review(token, audiences);
  if (!status?.authenticated || !status.user?.username)
    return { ok: false, status: 401, reason: `the token was not accepted${status?.error ? `: ${status.error}` : ''}` };
  return { ok: true, username: status.user.username, extra: status.user.extra };
}
