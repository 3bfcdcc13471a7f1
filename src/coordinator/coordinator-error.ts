/** A request the Coordinator cannot serve: HTTP status and a message for the agent (server.ts maps it). */
export class CoordinatorError extends Error {
  readonly status: number;
  readonly retryAfterSeconds: number | undefined;
  constructor(status: number, message: string, retryAfterSeconds?: number) {
    super(message);
    this.name = 'CoordinatorError';
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}
