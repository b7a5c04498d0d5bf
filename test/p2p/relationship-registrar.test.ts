/**
 * The RelationshipRegistrar compliance suite against the in-memory
 * reference (the appliance's persisted registrar runs the same suite).
 */
import t from 'tap'
import { registrarSuite } from '../helpers/registrar-suite.ts'
import { MemoryRegistrar } from './fixtures/relationship.ts'

registrarSuite(t, async () => new MemoryRegistrar())
