/**
 * Who is calling the Coordinator: the agent presents its service account token, the API server
 * says whose it is (TokenReview). Only the configured agent service accounts are accepted, and a
 * pod-bound token names the node its pod runs on: that is the only node it may speak for.
 */
import * as k8s from '@kubernetes/client-node';

export const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';

export type Caller = { ok: true; username: string; node: string } | { ok: false; status: 401 | 403; reason: string };

export interface Authenticator {
  authenticate(authorization: string | undefined): Promise<Caller>;
}

export class TokenReviewAuthenticator implements Authenticator {
  readonly #api: k8s.AuthenticationV1Api;
  readonly #allowed: ReadonlySet<string>;
  readonly #audiences: string[] | undefined;

  /**
   * @param agentUsernames e.g. system:serviceaccount:attestor-system:attestor-agent
   * @param audiences token audiences to require (the agent's projected token audience), if any
   */
  constructor(kubeConfig: k8s.KubeConfig, agentUsernames: readonly string[], audiences?: string[]) {
    this.#api = kubeConfig.makeApiClient(k8s.AuthenticationV1Api);
    this.#allowed = new Set(agentUsernames);
    this.#audiences = audiences;
  }

  async authenticate(authorization: string | undefined): Promise<Caller> {
    const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
    if (!token)
      return { ok: false, status: 401, reason: 'a bearer token (the agent service account token) is required' };
    const review = await this.#api.createTokenReview({
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, audiences: this.#audiences },
      },
    });
    const status = review.status;
    if (!status?.authenticated || !status.user?.username)
      return {
        ok: false,
        status: 401,
        reason: `the token was not accepted${status?.error ? `: ${status.error}` : ''}`,
      };
    const username = status.user.username;
    if (!this.#allowed.has(username)) return { ok: false, status: 403, reason: `${username} is not an attestor agent` };
    const node = status.user.extra?.[NODE_NAME_EXTRA]?.[0];
    if (!node)
      return {
        ok: false,
        status: 403,
        reason: 'the token is not bound to a pod on a node (use a projected service account token)',
      };
    return { ok: true, username, node };
  }
}
