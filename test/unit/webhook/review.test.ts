// AdmissionReview v1: what is accepted as a request, and the responses the builders produce.
import assert from 'node:assert/strict';
import { allowed, denied, failed, parseAdmissionReview, reviewResponse } from '../../../src/webhook/review.ts';

const request = () => ({
  uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
  kind: { group: '', version: 'v1', kind: 'Pod' },
  resource: { group: '', version: 'v1', resource: 'pods' },
  namespace: 'inference',
  operation: 'CREATE',
  userInfo: { username: 'alice', groups: ['system:authenticated'] },
  object: { metadata: { name: 'p' } },
});
const review = (r: unknown = request()) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: r });

describe('webhook AdmissionReview', function () {
  it('parses a v1 AdmissionReview', function () {
    const parsed = parseAdmissionReview(review());
    assert.ok(parsed.ok);
    assert.equal(parsed.request.uid, request().uid);
    assert.equal(parsed.request.userInfo.username, 'alice');
  });

  it('gives a request without userInfo an empty one (anonymous)', function () {
    const r: Record<string, unknown> = request();
    delete r.userInfo;
    const parsed = parseAdmissionReview(review(r));
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.request.userInfo, {});
  });

  const bad: Array<{ name: string; body: unknown; error: RegExp }> = [
    { name: 'an array', body: [], error: /not a JSON object/ },
    {
      name: 'v1beta1',
      body: { ...review(), apiVersion: 'admission.k8s.io/v1beta1' },
      error: /expected admission.k8s.io\/v1 AdmissionReview/,
    },
    {
      name: 'another kind',
      body: { ...review(), kind: 'Pod' },
      error: /expected admission.k8s.io\/v1 AdmissionReview/,
    },
    {
      name: 'no request',
      body: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' },
      error: /request is missing/,
    },
    { name: 'no uid', body: review({ ...request(), uid: '' }), error: /request.uid is missing/ },
    { name: 'an unknown operation', body: review({ ...request(), operation: 'PATCH' }), error: /request.operation/ },
    { name: 'no resource', body: review({ ...request(), resource: undefined }), error: /request.resource is missing/ },
    { name: 'userInfo that is not an object', body: review({ ...request(), userInfo: 'root' }), error: /userInfo/ },
  ];
  for (const c of bad) {
    it(`does not take ${c.name}`, function () {
      const parsed = parseAdmissionReview(c.body);
      assert.equal(parsed.ok, false);
      assert.match((parsed as { error: string }).error, c.error);
    });
  }

  it('builds an allow without a patch', function () {
    assert.deepEqual(reviewResponse(allowed('u1')), {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'u1', allowed: true },
    });
    assert.deepEqual(allowed('u1', []), { uid: 'u1', allowed: true });
  });

  it('builds an allow with a base64 JSONPatch', function () {
    const patch = [{ op: 'add' as const, path: '/spec/nodeSelector', value: { a: 'b' } }];
    const response = allowed('u2', patch);
    assert.equal(response.patchType, 'JSONPatch');
    assert.deepEqual(JSON.parse(Buffer.from(response.patch!, 'base64').toString('utf8')), patch);
  });

  it('builds a refusal that lists every violation with its field', function () {
    const response = denied('u3', [
      { field: 'spec.runtimeClassName', message: 'is not set' },
      { field: 'spec.containers[0].image', message: '"x" is not pinned by digest' },
    ]);
    assert.deepEqual(response, {
      uid: 'u3',
      allowed: false,
      status: {
        code: 403,
        reason: 'Forbidden',
        message: 'spec.runtimeClassName: is not set; spec.containers[0].image: "x" is not pinned by digest',
      },
    });
  });

  it('builds a refusal for what could not be judged', function () {
    assert.deepEqual(failed('u4', 'boom'), {
      uid: 'u4',
      allowed: false,
      status: { code: 500, reason: 'InternalError', message: 'boom' },
    });
    assert.equal(failed('u5', 'bad', 400).status!.reason, 'BadRequest');
  });
});
