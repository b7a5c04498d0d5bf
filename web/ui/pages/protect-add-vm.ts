/**
 * The Protect wizard's small form for a VM this box does not run: one disk
 * image under the manual driver (`POST /v1/vms`, docs/api.md; Tandem reads
 * the file, another program runs the VM). Errors in words, the form kept.
 */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import { useState } from 'preact/hooks'
import type { VmAddRequest, VmInfo } from '../../../appliance/service/vm-types.ts'
import type { Api } from '../api.ts'
import { failureText, FormError } from './form-error.ts'

export function AddManualVm ({ api, onAdded }: { api: Api, onAdded: (name: string) => void }): ComponentChildren {
  const [name, setName] = useState('')
  const [path, setPath] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const add = (): void => {
    setBusy(true)
    setError(null)
    const request: VmAddRequest = { name: name.trim(), disks: [path.trim()], driver: 'manual' }
    api.post<VmInfo>('/v1/vms', request).then(vm => { setBusy(false); setName(''); setPath(''); onAdded(vm.name) }, (err: unknown) => { setBusy(false); setError(failureText(err)) })
  }
  // Not a nested form (the wizard's step is one): its own button sends it.
  return html`
    <div class="stack" role="group" aria-labelledby="add-vm-title" aria-describedby="add-vm-error">
      <h3 id="add-vm-title">Add a disk image</h3>
      <label for="add-vm-name">VM name</label>
      <input id="add-vm-name" autocomplete="off" autocapitalize="off" spellcheck=${false} value=${name} onInput=${(e: Event) => { setName((e.target as HTMLInputElement).value) }} />
      <label for="add-vm-disk">Disk image on this box</label>
      <input id="add-vm-disk" autocomplete="off" autocapitalize="off" spellcheck=${false} placeholder="/srv/files.raw" value=${path} onInput=${(e: Event) => { setPath((e.target as HTMLInputElement).value) }} />
      <${FormError} id="add-vm-error" text=${error} />
      <button type="button" disabled=${busy || name.trim() === '' || path.trim() === ''} onClick=${add}>Add this VM</button>
    </div>`
}
