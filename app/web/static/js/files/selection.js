// Which entries of the list are selected: a set of paths, with the anchor a shift-click
// extends from (as in a file manager: click, then shift-click selects the range between).

export class Selection {
  constructor(onChange) {
    this.paths = new Set();
    this.anchor = -1;
    this.onChange = onChange;
  }

  get size() {
    return this.paths.size;
  }

  has(entry) {
    return this.paths.has(entry.path);
  }

  /** The selected entries, in list order. */
  entries(list) {
    if (!this.paths.size) return [];
    return list.filter((entry) => entry && this.paths.has(entry.path));
  }

  toggle(list, index) {
    const entry = list[index];
    if (!entry) return;
    if (this.paths.has(entry.path)) this.paths.delete(entry.path);
    else this.paths.add(entry.path);
    this.anchor = index;
    this.onChange();
  }

  /** Select from the anchor to index (inclusive), keeping what else was selected. */
  extendTo(list, index) {
    const from = this.anchor < 0 ? index : this.anchor;
    const [low, high] = from <= index ? [from, index] : [index, from];
    for (let i = low; i <= high; i += 1) if (list[i]) this.paths.add(list[i].path);
    this.onChange();
  }

  only(list, index) {
    this.paths.clear();
    if (list[index]) this.paths.add(list[index].path);
    this.anchor = index;
    this.onChange();
  }

  all(list) {
    for (const entry of list) if (entry) this.paths.add(entry.path);
    this.onChange();
  }

  clear() {
    if (!this.paths.size && this.anchor < 0) return;
    this.paths.clear();
    this.anchor = -1;
    this.onChange();
  }
}
