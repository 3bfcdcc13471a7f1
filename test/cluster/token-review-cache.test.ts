// The TokenReview cache (src/coordinator/token-review-cache.ts) on the real API server: a token
// reviewed twice within the TTL costs one TokenReview (counted by the API server itself,
// apiserver_request_total{resource="tokenreviews"}, read with kubectl), and a token whose pod or
// service account was deleted stays accepted only until the TTL has passed, then is refused (401)
// on every request, each one a TokenReview again. The cache's clock is the test's, so nothing
// sleeps; only the API server's own success cache (about 10 s here) is waited out, on a condition.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { TokenReviewPeerAuthenticator } from '../../src/coordinator/auth.ts';
import { DEFAULT_TOKEN_REVIEW_TTL_MS } from '../../src/coordinator/token-review-cache.ts';
import { TokenReviewWorkloadAuthenticator } from '../../src/coordinator/workload-auth.ts';
import type { ControlPlane } from '../../src/dev/control-plane.ts';
import { requestPodToken } from '../../src/dev/pod-token.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { isNotFound } from '../../src/errors.ts';
import { WORKLOAD_AUDIENCE } from '../../src/protocol/workload.ts';
import { sharedControlPlane, uniqueName } from '../harness/cluster.ts';

const SERVICE_ACCOUNT = 'llm';
const PEER_AUDIENCE = 'attestor-peer-test';

/** TokenReviews the API server has answered so far (all verbs and codes), from its /metrics. */
function tokenReviewsServed(cp: ControlPlane): number {
  const text = execFileSync(
    join(cp.binDir, 'kubectl'),
    ['--kubeconfig', cp.kubeconfigPath, 'get', '--raw', '/metrics'],
    {
      encoding: 'utf8',
      maxBuffer: 256 * 2 ** 20,
    },
  );
  let total = 0;
  for (const line of text.split('\n'))
    if (line.startsWith('apiserver_request_total{') && line.includes('resource="tokenreviews"'))
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  return total;
}

describe('TokenReview cache on the real API server', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let core: k8s.CoreV1Api;
  const namespace = uniqueName('token-cache');
  let now = Date.now();
  const clock = () => now;

  before(async () => {
    cp = await sharedControlPlane();
    core = cp.kubeConfig().makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: SERVICE_ACCOUNT } } });
  });

  /**
   * Moves the cache's clock a TTL on and asks again until the answer is a refusal. The API server
   * keeps its own cache of successful token authentications (kube-apiserver's token success cache,
   * 10 s), so it may still accept the token for a while after the deletion; each probe here is a
   * TokenReview, since the cache's clock is past the TTL of whatever the previous one kept.
   */
  async function refusedOnceApiServerRefuses(
    authenticate: () => Promise<{ ok: true } | { ok: false; status: number; reason: string }>,
  ): Promise<{ ok: false; status: number; reason: string }> {
    return waitFor(
      async () => {
        now += DEFAULT_TOKEN_REVIEW_TTL_MS;
        const answer = await authenticate();
        return answer.ok ? undefined : answer;
      },
      { timeoutMs: 30_000, intervalMs: 250, description: 'the API server to refuse the token' },
    );
  }

  after(async () => {
    await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  it("makes one TokenReview for a pod's token presented twice within the TTL, and refuses it once the TTL has passed after the pod was deleted", async () => {
    const pod = await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'llm-0' },
        spec: {
          serviceAccountName: SERVICE_ACCOUNT,
          automountServiceAccountToken: false,
          // No node has this label: the pod stays pending, so deleting it is immediate.
          nodeSelector: { 'token-cache.attestor.dev/none': 'true' },
          containers: [{ name: 'llm', image: `registry.example/vllm@sha256:${'c5'.repeat(32)}` }],
        },
      },
    });
    const { name, uid } = pod.metadata as { name: string; uid: string };
    const token = await requestPodToken(
      core,
      { namespace, name, uid, serviceAccount: SERVICE_ACCOUNT },
      WORKLOAD_AUDIENCE,
    );
    const authenticator = new TokenReviewWorkloadAuthenticator(cp.kubeConfig(), [WORKLOAD_AUDIENCE], { now: clock });
    const bearer = `Bearer ${token}`;
    const caller = { ok: true, namespace, name, uid };

    const before = tokenReviewsServed(cp);
    assert.deepEqual(await authenticator.authenticate(bearer), caller);
    assert.deepEqual(await authenticator.authenticate(bearer), caller);
    assert.equal(tokenReviewsServed(cp) - before, 1, 'the second request was answered from the cache');

    await core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 });
    await waitFor(
      () =>
        core.readNamespacedPod({ namespace, name }).then(
          () => false,
          (err: unknown) => isNotFound(err),
        ),
      { description: `pod ${name} gone` },
    );
    now += DEFAULT_TOKEN_REVIEW_TTL_MS - 1;
    assert.deepEqual(
      await authenticator.authenticate(bearer),
      caller,
      "within the TTL the deleted pod's token is still accepted (the documented trade)",
    );
    assert.equal(tokenReviewsServed(cp) - before, 1);

    now += 1;
    const refused = await refusedOnceApiServerRefuses(() => authenticator.authenticate(bearer));
    assert.equal(refused.status, 401);
    assert.match(refused.reason, /^the token was not accepted/);
    const served = tokenReviewsServed(cp);
    assert.deepEqual(await authenticator.authenticate(bearer), refused);
    assert.equal(tokenReviewsServed(cp) - served, 1, 'a refusal is not kept: the next request is a TokenReview again');
  });

  it("refuses a peer's service account token once the TTL has passed after the service account was deleted", async () => {
    const account = 'peer';
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: account } } });
    const token = (
      await core.createNamespacedServiceAccountToken({
        name: account,
        namespace,
        body: { spec: { audiences: [PEER_AUDIENCE], expirationSeconds: 3600 } },
      })
    ).status?.token;
    assert.ok(token, 'TokenRequest returned a token');
    const username = `system:serviceaccount:${namespace}:${account}`;
    const authenticator = new TokenReviewPeerAuthenticator(cp.kubeConfig(), [username], [PEER_AUDIENCE], {
      now: clock,
    });
    const bearer = `Bearer ${token}`;

    const before = tokenReviewsServed(cp);
    assert.deepEqual(await authenticator.authenticatePeer(bearer), { ok: true, username, caller: username });
    await core.deleteNamespacedServiceAccount({ namespace, name: account });
    await waitFor(
      () =>
        core.readNamespacedServiceAccount({ namespace, name: account }).then(
          () => false,
          (err: unknown) => isNotFound(err),
        ),
      { description: `service account ${account} gone` },
    );
    assert.equal((await authenticator.authenticatePeer(bearer)).ok, true, 'still within the TTL');
    assert.equal(tokenReviewsServed(cp) - before, 1);

    const refused = await refusedOnceApiServerRefuses(() => authenticator.authenticatePeer(bearer));
    assert.equal(refused.status, 401);
    assert.match(refused.reason, /^the token was not accepted/);
  });
});
