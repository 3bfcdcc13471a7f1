/**
 * client-go's REST client metrics for the operator's calls to the API server:
 * `rest_client_requests_total{code,method,host}` and
 * `rest_client_request_duration_seconds{verb,host}` (until the response headers, as client-go
 * measures; a watch counts once, when it is answered). Every request of @kubernetes/client-node,
 * typed clients, KubernetesObjectApi and Watch alike, gets its undici dispatcher from
 * KubeConfig.applySecurityAuthentication: the copy of the KubeConfig made here composes an
 * interceptor onto it, so no call site changes.
 */
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

class InstrumentedKubeConfig extends k8s.KubeConfig {
  readonly #interceptor: Dispatcher.DispatcherComposeInterceptor;

  constructor(interceptor: Dispatcher.DispatcherComposeInterceptor) {
    super();
    this.#interceptor = interceptor;
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

function hostOf(origin: string | URL | undefined): string {
  if (origin === undefined) return '';
  try {
    return new URL(origin).host;
  } catch {
    return String(origin);
  }
}
