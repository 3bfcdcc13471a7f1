/**
 * client-go's REST client metrics for the operator's calls to the API server:
 * `rest_client_requests_total{code,method,host}` and
 * `rest_client_request_duration_seconds{verb,host}` (until the response headers, as client-go
 * measures; a watch counts once, when it is answered). Every request of @kubernetes/client-node,
 * typed clients, KubernetesObjectApi and Watch alike, gets its undici dispatcher from
 * KubeConfig.applySecurityAuthentication: the copy of the KubeConfig made here composes an
 * interceptor onto it, so no call site changes. That copy also keeps one dispatcher (one
 * connection pool) per TLS identity instead of client-node's new one per request.
 */
import { createHash } from 'node:crypto';
import type { AgentOptions } from 'node:https';
import * as k8s from '@kubernetes/client-node';
import { Counter, Histogram, type Registry } from 'prom-client';
import { type Dispatcher, getGlobalDispatcher } from 'undici';

/** client-go's code for a request that got no HTTP answer. */
const NO_ANSWER = '<error>';

export class RestClientMetrics {
  readonly requests: Counter<'code' | 'method' | 'host'>;
  readonly duration: Histogram<'verb' | 'host'>;

  constructor(registry: Registry) {
    this.requests = new Counter({
      name: 'rest_client_requests_total',
      help: 'Number of HTTP requests, partitioned by status code, method, and host.',
      labelNames: ['code', 'method', 'host'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'rest_client_request_duration_seconds',
      help: 'Request latency in seconds. Broken down by verb, and host.',
      labelNames: ['verb', 'host'],
      // client-go's buckets.
      buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60],
      registers: [registry],
    });
  }

  /** An undici interceptor that counts and times each request it passes on. */
  interceptor(): Dispatcher.DispatcherComposeInterceptor {
    return (dispatch) => (opts, handler) => {
      const host = hostOf(opts.origin);
      const method = opts.method;
      const started = performance.now();
      let recorded = false;
      const record = (code: string) => {
        if (recorded) return;
        recorded = true;
        this.requests.inc({ code, method, host });
        this.duration.observe({ verb: method, host }, (performance.now() - started) / 1000);
      };
      return dispatch(opts, measured(handler, record));
    };
  }
}

/** A KubeConfig like `source` whose clients report to `metrics`. */
export function instrumentedKubeConfig(source: k8s.KubeConfig, metrics: RestClientMetrics): k8s.KubeConfig {
  const kc = new InstrumentedKubeConfig(metrics.interceptor());
  kc.loadFromOptions({
    clusters: source.clusters,
    users: source.users,
    contexts: source.contexts,
    currentContext: source.getCurrentContext(),
  });
  return kc;
}

/** client-node's own dispatcher factory (private in its types): a new undici Agent per request. */
type DispatcherFactory = (cluster: k8s.Cluster | null, agentOptions: AgentOptions) => Dispatcher | undefined;

class InstrumentedKubeConfig extends k8s.KubeConfig {
  readonly #interceptor: Dispatcher.DispatcherComposeInterceptor;
  /** The dispatcher of the current TLS identity and its key (reused: client-node makes one per request). */
  #pooled: { key: string; dispatcher: Dispatcher | undefined } | undefined;

  constructor(interceptor: Dispatcher.DispatcherComposeInterceptor) {
    super();
    this.#interceptor = interceptor;
    // client-node builds a new undici Agent, so a new connection and TLS handshake, for every
    // request. Reuse one per TLS identity (server, proxy, CA, client certificate and key as read
    // for this request): rotated certificate files get a new one, and the old one closes once
    // its requests (watches included) are done.
    const self = this as unknown as { createDispatcher: DispatcherFactory };
    const create = self.createDispatcher.bind(this);
    self.createDispatcher = (cluster, agentOptions) => {
      const key = dispatcherKey(cluster, this.createDispatcherOptions(cluster, agentOptions));
      if (this.#pooled?.key === key) return this.#pooled.dispatcher;
      const previous = this.#pooled?.dispatcher;
      this.#pooled = { key, dispatcher: create(cluster, agentOptions) };
      previous?.close().catch(() => undefined);
      return this.#pooled.dispatcher;
    };
  }

  override async applySecurityAuthentication(context: k8s.RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    // No dispatcher of its own (a plain http:// server): fetch would take the global one.
    const dispatcher = (context.getDispatcher() as Dispatcher | undefined) ?? getGlobalDispatcher();
    context.setDispatcher(dispatcher.compose(this.#interceptor));
  }
}

/** The handler, told to `record` the status at the response headers, or NO_ANSWER on an error before them. */
function measured(handler: Dispatcher.DispatchHandler, record: (code: string) => void): Dispatcher.DispatchHandler {
  return {
    onRequestStart: (controller, context) => handler.onRequestStart?.(controller, context),
    onBodySent: (chunk) => handler.onBodySent?.(chunk),
    onRequestSent: () => handler.onRequestSent?.(),
    onResponseStarted: () => handler.onResponseStarted?.(),
    onRequestUpgrade: (controller, statusCode, headers, socket) => {
      record(String(statusCode));
      handler.onRequestUpgrade?.(controller, statusCode, headers, socket);
    },
    onResponseStart: (controller, statusCode, headers, statusMessage) => {
      record(String(statusCode));
      return handler.onResponseStart?.(controller, statusCode, headers, statusMessage);
    },
    onResponseData: (controller, chunk) => handler.onResponseData?.(controller, chunk),
    onResponseEnd: (controller, trailers) => handler.onResponseEnd?.(controller, trailers),
    onResponseError: (controller, error) => {
      record(NO_ANSWER);
      handler.onResponseError?.(controller, error);
    },
  };
}

/**
 * What makes two requests' dispatchers interchangeable: the server and the TLS material, hashed.
 * Byte buffers (CA, client certificate and key) go into the hash as bytes: JSON would spell each
 * byte out as a number, on every request.
 */
function dispatcherKey(cluster: k8s.Cluster | null, options: unknown): string {
  const hash = createHash('sha256');
  const add = (value: unknown): void => {
    if (value instanceof Uint8Array) hash.update('b').update(String(value.length)).update(':').update(value);
    else if (Array.isArray(value)) {
      hash.update('[');
      for (const item of value) add(item);
      hash.update(']');
    } else if (value && typeof value === 'object') {
      hash.update('{');
      for (const [k, v] of Object.entries(value)) {
        if (v === undefined || typeof v === 'function') continue;
        hash.update(JSON.stringify(k)).update(':');
        add(v);
      }
      hash.update('}');
    } else hash.update(`${JSON.stringify(value ?? null)},`);
  };
  add([cluster?.server, cluster?.proxyUrl, options]);
  return hash.digest('hex');
}

function hostOf(origin: string | URL | undefined): string {
  if (origin === undefined) return '';
  try {
    return new URL(origin).host;
  } catch {
    return String(origin);
  }
}
