// The live transcript: one list item per conversation item, ordered by the server's positions.
//
// The ordering rule (the item chain) lives on the server; this view only sorts by the
// `position` the server sends in acks. Deltas shown live (in italics) are placeholders that
// the final text replaces.

const LABELS = { user: "You", assistant: "Assistant" };
const UNPLACED = Number.MAX_SAFE_INTEGER;

export class TranscriptView {
  constructor(list) {
    this.list = list;
    this.entries = new Map();
    this.arrival = 0;
  }

  // Final turns from the server: text, status and position.
  applyTurns(turns) {
    for (const turn of turns) {
      if (!turn.role || !LABELS[turn.role]) continue;
      const entry = this.#entry(turn.item_id, turn.role);
      entry.position = turn.position ?? entry.position;
      entry.element.dataset.status = turn.status ?? "";
      if (turn.text) this.#setFinal(entry, turn.text);
    }
    this.#reorder();
  }

  // A live fragment, shown in italics until the final text arrives.
  showDelta(itemId, role, delta) {
    const entry = this.#entry(itemId, role);
    if (entry.final) return;
    entry.live.textContent += delta;
  }

  clear() {
    this.entries.clear();
    this.list.replaceChildren();
  }

  #entry(itemId, role) {
    let entry = this.entries.get(itemId);
    if (entry) return entry;
    const element = document.createElement("li");
    element.className = `turn turn-${role}`;
    element.dataset.testid = "turn";
    element.dataset.itemId = itemId;
    element.dataset.role = role;
    const who = document.createElement("span");
    who.className = "turn-who";
    who.textContent = `${LABELS[role]}: `;
    const text = document.createElement("span");
    text.className = "turn-text";
    const live = document.createElement("em");
    live.className = "turn-live";
    text.append(live);
    element.append(who, text);
    entry = { element, text, live, final: false, position: UNPLACED, arrival: this.arrival++ };
    this.entries.set(itemId, entry);
    this.list.append(element);
    return entry;
  }

  #setFinal(entry, text) {
    entry.final = true;
    entry.text.textContent = text;
    entry.element.dataset.final = "true";
  }

  #reorder() {
    const ordered = [...this.entries.values()].sort(
      (a, b) => a.position - b.position || a.arrival - b.arrival,
    );
    for (const entry of ordered) this.list.append(entry.element);
  }
}
