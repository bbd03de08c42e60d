import type { NormalizedEvent } from './event.js';

/**
 * Every event is serialised once: the outbox stores this text and the outputs send the same text. Events are
 * only changed before they are stored (the recorder's annotator), never after, so the text stays true.
 *
 * The text is kept in a private field stamped on the event object itself (a base class whose constructor returns
 * the object it is given lets a subclass add its private field to any object): no key, no spread, no test's
 * equality and no clone sees it, and unlike a WeakMap entry it costs the collector nothing of its own.
 */
class Stamp {
  constructor(target: object) {
    return target;
  }
}

class EventText extends Stamp {
  #text: string | undefined;

  static of(event: NormalizedEvent): string | undefined {
    return #text in event ? (event as unknown as EventText).#text : undefined;
  }

  static keep(event: NormalizedEvent, text: string | undefined): void {
    if (!(#text in event)) {
      // A frozen event is serialised each time it is asked for: newer engines refuse a private field on it.
      if (!Object.isExtensible(event)) return;
      new EventText(event);
    }
    (event as unknown as EventText).#text = text;
  }
}

/** An event read back from its stored text: the outputs then send that text instead of serialising it again. */
export function parsedEvent(text: string): NormalizedEvent {
  const event = JSON.parse(text) as NormalizedEvent;
  EventText.keep(event, text);
  return event;
}

export function eventJson(event: NormalizedEvent): string {
  let text = EventText.of(event);
  if (text === undefined) {
    text = JSON.stringify(event);
    // JSON.stringify hands its text back in pieces (a cons string), joined only when something reads it whole (the
    // outbox's insert, a batch later). Reading a character joins them now, so the pieces die young instead of being
    // copied out of the young generation with the batch still in flight.
    text.charCodeAt(0);
    EventText.keep(event, text);
  }
  return text;
}

/** Drops an event's text: this event object will not be sent (its entry is read back from storage for that). */
export function forgetJson(event: NormalizedEvent): void {
  if (EventText.of(event) !== undefined) EventText.keep(event, undefined);
}
