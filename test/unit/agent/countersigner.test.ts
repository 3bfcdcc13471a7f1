// The node agent's countersigning rules without a cluster: who asks comes from the token's review,
// the pod from the API server (both kept in memory here), the signature from a real agent key.
// Each case changes one thing about a request the agent countersigns.
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import type * as jose from 'jose';
import { createAgentKey } from '../../../src/agent/agent-key.ts';
import { Countersigner, type TokenOwner } from '../../../src/agent/countersigner.ts';
import {
  type CountersignRequest,
  countersignatureProblems,
  readCountersignature,
  signCountersignature,
  signProof,
  spkiSha256,
} from '../../../src/protocol/countersignature.ts';

const NOW = new Date('2026-06-01T00:00:00Z');
const NONCE = 'a1'.repeat(32);

interface Setup {
  pods: Map<string, k8s.V1Pod>;
  /** What the TokenReview says about each token. */
  tokens: Map<string, TokenOwner>;
  state: { attested: boolean; answered: boolean };
  agentKey: Awaited<ReturnType<typeof createAgentKey>>;
  countersigner: Countersigner;
}

async function setup(): Promise<Setup> {
  const agentKey = await createAgentKey();
  const s: Setup = {
    pods: new Map([
      ['ai/p', { metadata: { name: 'p', namespace: 'ai', uid: 'uid-p' }, spec: { nodeName: 'n1', containers: [] } }],
      ['ai/q', { metadata: { name: 'q', namespace: 'ai', uid: 'uid-q' }, spec: { nodeName: 'n2', containers: [] } }],
    ]),
    tokens: new Map<string, TokenOwner>([
      ['token-p', { ok: true, namespace: 'ai', name: 'p', uid: 'uid-p' }],
      ['token-q', { ok: true, namespace: 'ai', name: 'q', uid: 'uid-q' }],
    ]),
    state: { attested: true, answered: true },
    agentKey,
    countersigner: undefined as never,
  };
  s.countersigner = new Countersigner({
    node: 'n1',
    authenticate: async (authorization) =>
      s.tokens.get(/^Bearer (\S+)$/.exec(authorization ?? '')?.[1] ?? '') ?? {
        ok: false,
        status: 401,
        reason: 'the token was not accepted',
      },
    readPod: async (namespace, name) => structuredClone(s.pods.get(`${namespace}/${name}`)),
    sign: async (pod, now) =>
      s.state.attested
        ? {
            ok: true,
            countersignature: await signCountersignature(
              { ...pod, node: 'n1', manifestHash: 'm1', iat: Math.floor(now.getTime() / 1000) },
              agentKey.privateKey,
            ),
          }
        : { ok: false, final: s.state.answered, reason: 'not attested' },
    now: () => NOW,
  });
  return s;
}

async function podRequest(): Promise<{ body: CountersignRequest; spki: Uint8Array; key: jose.CryptoKey }> {
  const key = await createAgentKey();
  return {
    body: {
      nonce: NONCE,
      spki: Buffer.from(key.spkiDer).toString('base64url'),
      proof: await signProof(NONCE, key.spkiDer, key.privateKey),
    },
    spki: key.spkiDer,
    key: key.privateKey,
  };
}

describe('the node agent countersigns the key of a pod on its node', () => {
  it('signs {node, pod, UID, SHA-256 of the SPKI, nonce, Manifest, time} with the agent key, for the pod its token names', async () => {
    const s = await setup();
    const { body, spki } = await podRequest();
    const answer = await s.countersigner.countersign('Bearer token-p', body);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const jws = (answer.body as { countersignature: string }).countersignature;
    const claims = await readCountersignature(jws, s.agentKey.publicJwk);
    assert.ok(!('error' in claims), JSON.stringify(claims));
    assert.deepEqual(claims, {
      namespace: 'ai',
      pod: 'p',
      podUid: 'uid-p',
      spkiSha256: spkiSha256(spki),
      nonce: NONCE,
      node: 'n1',
      manifestHash: 'm1',
      iat: NOW.getTime() / 1000,
    });
    const expected = { ...claims, now: NOW, maxAgeMs: 300_000 };
    assert.deepEqual(countersignatureProblems(claims, expected), []);
    // Another key does not verify it, and a proof of possession is no countersignature.
    assert.ok('error' in (await readCountersignature(jws, (await createAgentKey()).publicJwk)));
    assert.ok('error' in (await readCountersignature(body.proof, s.agentKey.publicJwk)));
  });

  const refused: Array<[string, (s: Setup, body: CountersignRequest) => Promise<[string, unknown]>, number, RegExp]> = [
    ['the token is not accepted (another audience)', async (_s, body) => ['Bearer other', body], 401, /not accepted/],
    [
      'the token is for a pod on another node',
      async (_s, body) => ['Bearer token-q', body],
      403,
      /pod ai\/q runs on n2, not on node n1/,
    ],
    [
      'the pod was replaced under its name (another UID)',
      async (s, body) => {
        s.pods.get('ai/p')!.metadata!.uid = 'uid-new';
        return ['Bearer token-p', body];
      },
      403,
      /does not exist or is being deleted/,
    ],
    [
      'the pod is being deleted',
      async (s, body) => {
        s.pods.get('ai/p')!.metadata!.deletionTimestamp = NOW;
        return ['Bearer token-p', body];
      },
      403,
      /does not exist or is being deleted/,
    ],
    [
      'the proof of possession is by another key',
      async (_s, body) => {
        const other = await createAgentKey();
        const spki = new Uint8Array(Buffer.from(body.spki, 'base64url'));
        return ['Bearer token-p', { ...body, proof: await signProof(NONCE, spki, other.privateKey) }];
      },
      403,
      /proof of possession does not verify/,
    ],
    [
      'the proof of possession is for another nonce',
      async (_s, body) => ['Bearer token-p', { ...body, nonce: 'b2'.repeat(32) }],
      403,
      /another nonce or key/,
    ],
    [
      'the Coordinator refused this node',
      async (s, body) => {
        s.state.attested = false;
        return ['Bearer token-p', body];
      },
      403,
      /not attested/,
    ],
    [
      'the node has not been answered yet (the pod waits: 503)',
      async (s, body) => {
        s.state.attested = false;
        s.state.answered = false;
        return ['Bearer token-p', body];
      },
      503,
      /not attested/,
    ],
    ['the request is malformed', async (_s, body) => ['Bearer token-p', { ...body, nonce: 'xyz' }], 400, /expected/],
  ];
  for (const [why, make, status, message] of refused)
    it(`refuses when ${why}`, async () => {
      const s = await setup();
      const { body } = await podRequest();
      const [authorization, request] = await make(s, body);
      const answer = await s.countersigner.countersign(authorization, request as CountersignRequest);
      assert.equal(answer.status, status, JSON.stringify(answer.body));
      assert.match((answer.body as { error: string }).error, message);
    });
});
