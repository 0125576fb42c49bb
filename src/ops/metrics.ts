/**
 * Prometheus metrics: HTTP requests by route and status, latency, bytes in and out. Each app
 * owns its own prom-client Registry (no process-global state), exposed at `/metrics`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { parseCounts } from '../base/bounded-parse.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** A stable route name for metrics (`oci.blob.get`); defaults to the matched URL pattern. */
    metricsRoute?: string;
    metricsStart?: { time: bigint; bytesRead: number; bytesWritten: number };
  }
}

export interface Metrics {
  registry: Registry;
}

function routeOf(request: FastifyRequest): string {
  return request.metricsRoute ?? request.routeOptions.url ?? 'unmatched';
}

/** Registers `/metrics` over `registry` (a new one by default; services add theirs to it). */
export function registerMetrics(app: FastifyInstance, registry: Registry = new Registry()): Metrics {
  collectDefaultMetrics({ register: registry, prefix: 'pallet_' });
  const requests = new Counter({
    name: 'pallet_http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'pallet_http_request_duration_seconds',
    help: 'HTTP request latency by method and route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const bytesIn = new Counter({
    name: 'pallet_http_request_bytes_total',
    help: 'Bytes received (headers and bodies) by route',
    labelNames: ['route'] as const,
    registers: [registry],
  });
  const bytesOut = new Counter({
    name: 'pallet_http_response_bytes_total',
    help: 'Bytes sent (headers and bodies) by route',
    labelNames: ['route'] as const,
    registers: [registry],
  });

  new Counter({
    name: 'pallet_parse_documents_total',
    help: 'Untrusted documents parsed (base/bounded-parse.ts) by format, path (inline or worker) and outcome (ok, refused, timeout, busy)',
    labelNames: ['format', 'path', 'outcome'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [key, n] of Object.entries(parseCounts())) {
        const [format = '', path = '', outcome = ''] = key.split('|');
        this.inc({ format, path, outcome }, n);
      }
    },
  });
  app.addHook('onRequest', async (request) => {
    const socket = request.raw.socket;
    request.metricsStart = {
      time: process.hrtime.bigint(),
      bytesRead: socket?.bytesRead ?? 0,
      bytesWritten: socket?.bytesWritten ?? 0,
    };
  });
  app.addHook('onResponse', async (request, reply) => {
    const start = request.metricsStart;
    if (!start) return;
    const route = routeOf(request);
    requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    duration.observe({ method: request.method, route }, Number(process.hrtime.bigint() - start.time) / 1e9);
    const socket = request.raw.socket;
    if (socket) {
      bytesIn.inc({ route }, Math.max(0, socket.bytesRead - start.bytesRead));
      bytesOut.inc({ route }, Math.max(0, socket.bytesWritten - start.bytesWritten));
    }
  });
  app.get('/metrics', async (request, reply) => {
    request.metricsRoute = 'metrics';
    reply.header('Content-Type', registry.contentType);
    return registry.metrics();
  });
  return { registry };
}
