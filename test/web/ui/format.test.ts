/**
 * The front end's words (web/ui/format.ts), a table of literal inputs and
 * outputs: a daemon's reason made a sentence of its own.
 */
import t from 'tap'
import { sentence } from '../../../web/ui/format.ts'

t.test('sentence: a reason made to follow a colon stands alone', async t => {
  const table: Array<[string, string]> = [
    ['initial replication finished; replicating', 'Initial replication finished; replicating.'],
    ['already a sentence.', 'Already a sentence.'],
    ['is it?', 'Is it?'],
    ['  padded  ', 'Padded.'],
    ['', ''],
    ['P2P_FAILED_OVER refused', 'P2P_FAILED_OVER refused.']
  ]
  for (const [reason, words] of table) t.equal(sentence(reason), words, JSON.stringify(reason))
})
