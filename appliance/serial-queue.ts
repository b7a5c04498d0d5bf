/**
 * Runs async work one piece at a time, in call order: the writers of one
 * file (the peers file, the relationships file, the event log) use it so
 * that concurrent changes never interleave. A piece that rejects rejects
 * only its own caller; the pieces after it run as usual.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve()

  async run<T> (work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work)
    this.tail = run.catch(() => undefined)
    return await run
  }
}
