/**
 * Who is calling the workload paths: `attestor init` presents its pod's projected service account
 * token (audience attestor-workload), and the API server says whose it is (TokenReview). A token
 * bound to a pod names the pod and its UID (and its node, once scheduled); that pod is the only
 * one the caller may speak for. Any service account may call: what makes a pod certifiable is its
 * evidence, not its account.
 */
import type * as k8s from '@kubernetes/client-node';
import { WORKLOAD_AUDIENCE } from '../protocol/workload.ts';
import { NODE_NAME_EXTRA } from './auth.ts';
import { apiTokenReviewer, TokenReviewCache, type TokenReviewCacheOptions } from './token-review-cache.ts';

export const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';
export const POD_UID_EXTRA = 'authentication.kubernetes.io/pod-uid';

/** The pod a workload token is bound to. */
export interface PodCaller {
  namespace: string;
  name: string;
  uid: string;
  /** The node the pod was bound to when the token was made, if any. */
  node?: string;
}

export type WorkloadCaller = ({ ok: true } & PodCaller) | { ok: false; status: 401 | 403; reason: string };

export interface WorkloadAuthenticator {
  authenticate(authorization: string | undefined): Promise<WorkloadCaller>;
}

const SERVICE_ACCOUNT = /^system:serviceaccount:([^:]+):[^:]+$/;

/** The pod a reviewed token names, or why it names none (pure: the TokenReview status in, the caller out). */
export function podCaller(status: k8s.V1TokenReviewStatus | undefined): WorkloadCaller {
  if (!status?.authenticated || !status.user?.username)
    return { ok: false, status: 401, reason: `the token was not accepted${status?.error ? `: ${status.error}` : ''}` };
  const namespace = SERVICE_ACCOUNT.exec(status.user.username)?.[1];
  const extra = status.user.extra ?? {};
  const name = extra[POD_NAME_EXTRA]?.[0];
  const uid = extra[POD_UID_EXTRA]?.[0];
  if (!namespace || !name || !uid)
    return {
      ok: false,
      status: 403,
      reason: `${status.user.username}: the token is not a pod's service account token (use a projected token with audience ${WORKLOAD_AUDIENCE})`,
    };
  const node = extra[NODE_NAME_EXTRA]?.[0];
  return { ok: true, namespace, name, uid, ...(node ? { node } : {}) };
}

/** The Coordinator's workload paths (audience attestor-workload) and the agent's countersigning (attestor-node-agent). */
export class TokenReviewWorkloadAuthenticator implements WorkloadAuthenticator {
  readonly #reviews: TokenReviewCache;
  readonly #audiences: string[];

  /** @param cache how long a successful review is reused (token-review-cache.ts) */
  constructor(kubeConfig: k8s.KubeConfig, audiences: string[] = [WORKLOAD_AUDIENCE], cache?: TokenReviewCacheOptions) {
    this.#reviews = new TokenReviewCache(apiTokenReviewer(kubeConfig), cache);
    this.#audiences = audiences;
  }

  async authenticate(authorization: string | undefined): Promise<WorkloadCaller> {
    const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
    if (!token)
      return {
        ok: false,
        status: 401,
        reason: "a bearer token (the pod's projected service account token) is required",
      };
    return podCaller(await this.#reviews.review(token, this.#audiences));
  }
}
