/**
 * The simulated hardware of the development mode, served by an operator started with
 * `--development-roots` (protocol/simulated-hardware.ts): simulated agents and pod inits in a
 * cluster get their CVM and GPU evidence here, signed by the roots that exist only in this
 * process's memory. Nothing here decides anything: the Coordinator appraises what it signs like
 * any other evidence, and accepts it only while the active Manifest accepts simulated evidence.
 */
import express, { type Request, type Response } from 'express';
import { SimulatedCvmSource, SimulatedGpuControl, type SimulatedPlatform } from '../agent/evidence/simulated.ts';
import { errorMessage } from '../errors.ts';
import { jsonErrorHandler, listenHttp } from '../http-server.ts';
import type { Logger } from '../observability/log.ts';
import {
  MAX_SIMULATED_HARDWARE_BODY_BYTES,
  SIMULATED_CVM_PATH,
  SIMULATED_GPUS_PATH,
  type SimulatedCvmRequest,
  type SimulatedCvmResponse,
  type SimulatedGpuRequest,
  type SimulatedGpuResponse,
  simulatedCvmRequestProblems,
  simulatedGpuRequestProblems,
} from '../protocol/simulated-hardware.ts';

export interface SimulatedHardwareServerOptions {
  host: string;
  port: number;
  platform: SimulatedPlatform;
  log: Logger;
}

export interface RunningSimulatedHardwareServer {
  port: number;
  close(): Promise<void>;
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

export async function startSimulatedHardwareServer(
  options: SimulatedHardwareServerOptions,
): Promise<RunningSimulatedHardwareServer> {
  const log = options.log.child({ component: 'simulated-hardware' });
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: MAX_SIMULATED_HARDWARE_BODY_BYTES }));
  const answer = (res: Response, work: () => Promise<unknown>) =>
    work().then(
      (body) => res.json(body),
      (err: unknown) => {
        log.error({ err: errorMessage(err) }, 'simulated evidence failed');
        res.status(500).json({ error: 'simulated evidence failed' });
      },
    );
  app.post(SIMULATED_CVM_PATH, (req: Request, res: Response) => {
    const problems = simulatedCvmRequestProblems(req.body);
    if (problems.length > 0) return void res.status(400).json({ error: problems.join('; ') });
    const r = req.body as SimulatedCvmRequest;
    void answer(res, async (): Promise<SimulatedCvmResponse> => {
      const source = new SimulatedCvmSource(options.platform, {
        platform: r.platform,
        policyHash: r.policyHash,
        reportId: Buffer.from(r.reportId, 'hex'),
        ...(r.measurement ? { measurement: r.measurement } : {}),
      });
      const evidence = await source.collect(Buffer.from(r.reportData, 'base64'));
      return {
        platform: evidence.platform,
        report: b64(evidence.report),
        ...(evidence.auxblob ? { auxblob: b64(evidence.auxblob) } : {}),
        provider: evidence.provider,
      };
    });
  });
  app.post(SIMULATED_GPUS_PATH, (req: Request, res: Response) => {
    const problems = simulatedGpuRequestProblems(req.body);
    if (problems.length > 0) return void res.status(400).json({ error: problems.join('; ') });
    const r = req.body as SimulatedGpuRequest;
    void answer(res, async (): Promise<SimulatedGpuResponse> => {
      const gpus = await new SimulatedGpuControl(options.platform, { uuids: r.uuids }).collect(
        Buffer.from(r.nonce, 'base64'),
      );
      return {
        gpus: gpus.map((g) => ({ uuid: g.uuid, report: b64(g.report), certificateChainPem: g.certificateChainPem })),
      };
    });
  });
  app.use(jsonErrorHandler);
  return listenHttp(app, options.host, options.port);
}
