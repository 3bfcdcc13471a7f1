/**
 * AdmissionReview v1 (admission.k8s.io/v1): the request the API server sends, the response it
 * expects, and pure builders for the three answers a webhook gives (allow, allow with a JSON
 * patch, deny with a Status). The server only parses and serialises; everything else is here.
 */
import type { JsonPatchOperation } from './json-patch.ts';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}
export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

export interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource: GroupVersionResource;
  subResource?: string;
  requestKind?: GroupVersionKind;
  requestResource?: GroupVersionResource;
  requestSubResource?: string;
  name?: string;
  namespace?: string;
  operation: Operation;
  userInfo: UserInfo;
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
  options?: unknown;
}

export interface Status {
  code: number;
  message: string;
  reason?: string;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: Status;
  patchType?: 'JSONPatch';
  /** base64 of the JSON patch document. */
  patch?: string;
  warnings?: string[];
}

export interface AdmissionReview {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  request?: AdmissionRequest;
  response?: AdmissionResponse;
}

/** One broken rule: the offending field and what is wrong with it. */
export interface Violation {
  field: string;
  message: string;
}

export function formatViolation(v: Violation): string {
  return `${v.field}: ${v.message}`;
}

export type ParsedReview = { ok: true; request: AdmissionRequest } | { ok: false; error: string };

/**
 * Checks the envelope of a decoded body. Only the fields every webhook relies on are checked
 * here; what the object must look like is up to each rule (which fails closed on anything odd).
 */
export function parseAdmissionReview(body: unknown): ParsedReview {
  if (!isObject(body)) return { ok: false, error: 'body is not a JSON object' };
  if (body.apiVersion !== ADMISSION_API_VERSION || body.kind !== 'AdmissionReview') {
    return {
      ok: false,
      error: `expected ${ADMISSION_API_VERSION} AdmissionReview, got ${String(body.apiVersion)} ${String(body.kind)}`,
    };
  }
  const request = body.request;
  if (!isObject(request)) return { ok: false, error: 'request is missing' };
  if (typeof request.uid !== 'string' || request.uid === '') return { ok: false, error: 'request.uid is missing' };
  if (!['CREATE', 'UPDATE', 'DELETE', 'CONNECT'].includes(request.operation as string))
    return { ok: false, error: 'request.operation is not one of CREATE, UPDATE, DELETE, CONNECT' };
  if (!isObject(request.resource) || typeof request.resource.resource !== 'string')
    return { ok: false, error: 'request.resource is missing' };
  if (request.userInfo !== undefined && !isObject(request.userInfo))
    return { ok: false, error: 'request.userInfo is not an object' };
  return {
    ok: true,
    request: { ...(request as unknown as AdmissionRequest), userInfo: (request.userInfo ?? {}) as UserInfo },
  };
}

export function allowed(uid: string, patch?: readonly JsonPatchOperation[]): AdmissionResponse {
  if (!patch || patch.length === 0) return { uid, allowed: true };
  return {
    uid,
    allowed: true,
    patchType: 'JSONPatch',
    patch: Buffer.from(JSON.stringify(patch), 'utf8').toString('base64'),
  };
}

/** A refusal; the message lists every violation so that users fix them all at once. */
export function denied(uid: string, violations: readonly Violation[], code = 403): AdmissionResponse {
  const message = violations.map(formatViolation).join('; ');
  return {
    uid,
    allowed: false,
    status: { code, reason: code === 403 ? 'Forbidden' : code >= 500 ? 'InternalError' : 'BadRequest', message },
  };
}

/** A refusal because the webhook could not judge the request (fail closed). */
export function failed(uid: string, message: string, code = 500): AdmissionResponse {
  return { uid, allowed: false, status: { code, reason: code >= 500 ? 'InternalError' : 'BadRequest', message } };
}

export function reviewResponse(response: AdmissionResponse): AdmissionReview {
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
