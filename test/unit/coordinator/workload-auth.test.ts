// Who a workload token speaks for (workload-auth.ts, pure): only a token bound to a pod names a
// caller, and then exactly that pod (namespace, name, UID) and the node it was bound to.
import assert from 'node:assert/strict';
import { POD_NAME_EXTRA, POD_UID_EXTRA, podCaller } from '../../../src/coordinator/workload-auth.ts';

const NODE_EXTRA = 'authentication.kubernetes.io/node-name';

describe('workload caller (TokenReview of the pod token)', () => {
  it('names the pod a pod-bound service account token was made for, with its UID and node', () => {
    assert.deepEqual(
      podCaller({
        authenticated: true,
        user: {
          username: 'system:serviceaccount:ai:default',
          extra: { [POD_NAME_EXTRA]: ['llama-1'], [POD_UID_EXTRA]: ['uid-1'], [NODE_EXTRA]: ['gpu-1'] },
        },
      }),
      { ok: true, namespace: 'ai', name: 'llama-1', uid: 'uid-1', node: 'gpu-1' },
    );
  });

  it('refuses a token the API server did not accept (401), and one that is not bound to a pod or is no service account token (403)', () => {
    const refused = podCaller({ authenticated: false, error: 'token audiences do not match' });
    assert.deepEqual(refused, {
      ok: false,
      status: 401,
      reason: 'the token was not accepted: token audiences do not match',
    });
    const unbound = podCaller({
      authenticated: true,
      user: { username: 'system:serviceaccount:ai:default', extra: {} },
    });
    assert.equal(unbound.ok, false);
    assert.equal((unbound as { status: number }).status, 403);
    const user = podCaller({
      authenticated: true,
      user: { username: 'alice', extra: { [POD_NAME_EXTRA]: ['llama-1'], [POD_UID_EXTRA]: ['uid-1'] } },
    });
    assert.equal((user as { status: number }).status, 403, 'a user with made-up extras is no pod');
  });
});
