import { z } from 'zod';
import type { Assurance } from '../../../src/assurance/assurance.js';
import { isGatewayError } from '../../../src/errors.js';
import { DEAD_LETTER_RETRY_LIMIT, type Outbox } from '../../../src/outbox/outbox.js';
import { ApiError, parseBody, type ApiServer } from '../server.js';
import { actorOf, answerOnceStored } from './actor.js';

const retryBody = z
  .object({
    output: z.string({ error: 'output must be the name of a configured output' }).min(1),
    seqs: z
      .array(z.number().int().positive(), { error: 'seqs must be a list of dead-letter seqs as GET /dead-letters lists them' })
      .max(DEAD_LETTER_RETRY_LIMIT, { error: `seqs: at most ${DEAD_LETTER_RETRY_LIMIT} per request` })
      .optional(),
    note: z.string({ error: 'note must be text' }).max(2_000).nullable().optional(),
  })
  .strict();

/** Refuses (404) a name no configured output has: the retry, and the listing of an output holding no dead letters. */
export function checkOutputNamed(outputs: readonly string[], name: string): void {
  if (!outputs.includes(name)) throw new ApiError('OUTPUT_NOT_FOUND', `no configured output is named ${name}`);
}

/**
 * The outbox's retry, or 503 OUTBOX_WRITE_FAILED when it cannot write (disk full): its transaction rolled back, so
 * nothing was retried, nothing is published, and the operator may repeat it once the disk has room.
 */
function retryOrRefuse(outbox: Pick<Outbox, 'retryDeadLetters'>, output: string, seqs: readonly number[] | undefined): ReturnType<Outbox['retryDeadLetters']> {
  try {
    return outbox.retryDeadLetters(output, seqs);
  } catch (error) {
    if (!isGatewayError(error) || error.code !== 'OUTBOX_WRITE_FAILED') throw error;
    const cause = error.cause instanceof Error ? error.cause.message : error.message;
    throw new ApiError('OUTBOX_WRITE_FAILED', `nothing was retried: the outbox cannot write (${cause}); retry once the disk under dataDir has room`);
  }
}

/**
 * `POST /dead-letters/retry {output, seqs?, note?}` (operators and admins): puts the output's dead letters (those
 * named, else the oldest) back in its queue once the cause is fixed; published to central and audited like an
 * acknowledgement. `remaining`: the output's dead letters still left; `notFound` (with `seqs` only): the seqs given
 * that are not dead letters of the output, so a typo does not read as a retry.
 */
export function registerDeadLetterRoutes(
  api: ApiServer,
  deps: { outputs: readonly string[]; outbox: Pick<Outbox, 'retryDeadLetters'>; assurance: Pick<Assurance, 'deadLettersRetried'> },
): void {
  api.route('POST', '/dead-letters/retry', 'redeliver', (req) => {
    const { output, seqs, note } = parseBody(retryBody, req);
    checkOutputNamed(deps.outputs, output);
    const { retried, remaining } = retryOrRefuse(deps.outbox, output, seqs);
    const retriedSeqs = new Set(retried.map((letter) => letter.deadSeq));
    const notFound = seqs === undefined ? undefined : [...new Set(seqs)].filter((seq) => !retriedSeqs.has(seq));
    const answer = { status: 200, body: { retried: retried.length, remaining, ...(notFound === undefined ? {} : { notFound }) } };
    // Nothing changed, nothing to publish: a retry that named no dead letter of the output (as a repeat does).
    if (retried.length === 0) return answer;
    const stored = deps.assurance.deadLettersRetried(output, retried, actorOf(req), note ?? null);
    return answerOnceStored(stored, `${retried.length} dead letter(s) of output ${output} were put back in its queue`, answer);
  });
}
