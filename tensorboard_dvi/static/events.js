// A minimal event emitter: the extension point between the run session and the panels.

export class Emitter {
  constructor() { this._handlers = new Map(); }
  /** Calls fn(payload) on every `event`; returns a function that unsubscribes. */
  on(event, fn) {
    if (!this._handlers.has(event)) this._handlers.set(event, new Set());
    this._handlers.get(event).add(fn);
    return () => this._handlers.get(event).delete(fn);
  }
  emit(event, payload) {
    for (const fn of [...(this._handlers.get(event) || [])]) fn(payload);
  }
}
