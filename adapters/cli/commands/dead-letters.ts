import { Command, InvalidArgumentError } from 'commander';
import { DEAD_LETTER_RETRY_LIMIT, type DeadLetter } from '../../../src/outbox/outbox.js';
import { apiAction, CommandFailure, withApiOptions, type ApiCall, type ApiOptions } from '../api-client.js';
import { EXIT_USAGE } from '../config.js';

interface DeadLetterPageAnswer {
  deadLetters: DeadLetter[];
  total: number;
  next: number | null;
}

function describeLetter(letter: DeadLetter): string {
  const { event } = letter;
  return `${letter.seq}  ${letter.output}  ${new Date(letter.at).toISOString()}  ${event.category} from account ${event.account ?? '(none)'} (${event.id}): ${letter.reason}`;
}

/** A `--seq` value, collected: seqs are what `dead-letters list` shows first on each line. */
function collectSeq(value: string, seqs: number[] = []): number[] {
  const seq = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(seq) || seq <= 0) throw new InvalidArgumentError('a seq is a positive whole number, as `dead-letters list` shows it');
  return [...seqs, seq];
}

interface RetryAnswer {
  retried: number;
  remaining: number;
  /** With seqs given: those that were not dead letters of the output. */
  notFound?: number[];
}

/**
 * Retries the seqs given, DEAD_LETTER_RETRY_LIMIT per request (the API's cap); without seqs, the output's dead
 * letters a request at a time until as many as there were at the first answer are done: those refused again
 * meanwhile are new letters, not to be retried in a loop.
 */
async function retry(call: ApiCall, output: string, seqs: readonly number[] | undefined, note: string | undefined): Promise<RetryAnswer> {
  const post = (chunk?: readonly number[]) =>
    call('POST', '/dead-letters/retry', { output, ...(chunk === undefined ? {} : { seqs: chunk }), ...(note === undefined ? {} : { note }) }) as Promise<RetryAnswer>;
  let retried = 0;
  let answer: RetryAnswer | undefined;
  if (seqs !== undefined) {
    const notFound: number[] = [];
    for (let from = 0; from < seqs.length; from += DEAD_LETTER_RETRY_LIMIT) {
      answer = await post(seqs.slice(from, from + DEAD_LETTER_RETRY_LIMIT));
      retried += answer.retried;
      notFound.push(...(answer.notFound ?? []));
    }
    return { retried, remaining: answer!.remaining, notFound };
  }
  answer = await post();
  retried = answer.retried;
  const atStart = answer.retried + answer.remaining;
  while (answer.retried > 0 && answer.remaining > 0 && retried < atStart) {
    answer = await post();
    retried += answer.retried;
  }
  return { retried, remaining: answer.remaining };
}

/** `panelbridge dead-letters list|retry`: what outputs refused for good, and putting it back once fixed, through the API. */
export function deadLettersCommand(): Command {
  const deadLetters = new Command('dead-letters').description("list an output's dead letters on the running gateway, and retry them once the cause is fixed");

  deadLetters.addCommand(
    withApiOptions(new Command('list'))
      .description('list dead letters, oldest first (the first 1000 events; with --all, every one)')
      .option('--output <name>', 'only those of this output')
      .option('--all', 'every page, not only the first')
      .action(
        apiAction(async (call, out, options: ApiOptions & { output?: string; all?: boolean }) => {
          const query = (after: number | null) => {
            const params = new URLSearchParams();
            if (options.output !== undefined) params.set('output', options.output);
            if (after !== null) params.set('after', String(after));
            return params.size === 0 ? '' : `?${params}`;
          };
          let page = (await call('GET', `/dead-letters${query(null)}`)) as DeadLetterPageAnswer;
          const letters = [...page.deadLetters];
          while (options.all === true && page.next !== null) {
            page = (await call('GET', `/dead-letters${query(page.next)}`)) as DeadLetterPageAnswer;
            letters.push(...page.deadLetters);
          }
          if (options.json === true) return out(JSON.stringify(letters));
          if (letters.length === 0) return out('no dead letters');
          for (const letter of letters) out(describeLetter(letter));
          if (letters.length < page.total) out(`… ${page.total - letters.length} more (--all lists every one)`);
        }),
      ),
  );

  deadLetters.addCommand(
    withApiOptions(new Command('retry'))
      .description("put an output's dead letters (all, or those named by --seq) back in its queue; recorded under your token, published to central and audited")
      .requiredOption('--output <name>', 'the output whose dead letters to retry')
      .option('--seq <n>', 'a dead letter to retry, by the seq `dead-letters list` shows (repeat for more)', collectSeq)
      .option('--note <text>', 'what was fixed (kept with the action)')
      .action(
        apiAction(async (call, out, options: ApiOptions & { output: string; seq?: number[]; note?: string }) => {
          const answer = await retry(call, options.output, options.seq, options.note);
          const notFound = answer.notFound ?? [];
          const notFoundLine = `${notFound.length === 1 ? 'seq' : 'seqs'} ${notFound.join(', ')}: not a dead letter of ${options.output} (\`dead-letters list --output ${options.output}\` shows its seqs)`;
          // Seqs given and none retried: a typo or another output's seq, not a success.
          if (options.seq !== undefined && answer.retried === 0) throw new CommandFailure(notFound.length > 0 ? notFoundLine : 'none of the seqs given was retried', EXIT_USAGE);
          if (notFound.length > 0) process.stderr.write(`warning ${notFoundLine}\n`);
          if (options.json === true) return out(JSON.stringify(answer));
          out(`retried ${answer.retried} dead letter(s) of ${options.output}; ${answer.remaining} left`);
        }),
      ),
  );
  return deadLetters;
}
