import type { NormalizedEvent } from './event.js';

/**
 * Every event is serialised once: the outbox stores this text and the outputs send the same text. Events are
 * only changed before they are stored (the recorder's annotator), never after, so the text stays true.
 */
const texts = new WeakMap<NormalizedEvent, string>();

/** An event read back from its stored text: the outputs then send that text instead of serialising it again. */
export function parsedEvent(text: string): NormalizedEvent {
  const event = JSON.parse(text) as NormalizedEvent;
  texts.set(event, text);
  return event;
}

export function eventJson(event: NormalizedEvent): string {
  let text = texts.get(event);
  if (text === undefined) {
    text = JSON.stringify(event);
    // JSON.stringify hands its text back in pieces (a cons string), joined only when something reads it whole (the
    // outbox's insert, a batch later). Reading a character joins them now, so the pieces die young instead of being
    // copied out of the young generation with the batch still in flight.
    text.charCodeAt(0);
    texts.set(event, text);
  }
  return text;
}

/** Drops an event's text: this event object will not be sent (its entry is read back from storage for that). */
export function forgetJson(event: NormalizedEvent): void {
  texts.delete(event);
}
