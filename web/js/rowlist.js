/**
 * A sorted, filtered list of rows kept in step with changing data, touching only what changed.
 *
 * Each item has an id, a value and the element built from it. Setting an item whose value is the same
 * object does nothing; a new value rebuilds that item's element only and moves it to its place. A filter
 * takes the rows it hides out of the list and puts them back where they belong; no other row is rebuilt or
 * moved. So a view can apply a stream's changes, a filter or a new page as they come, at the cost of the
 * rows they concern. Many items at once (a first load) can be built later, top first, a few dozen per task,
 * so the first rows show at once and the page stays responsive while the rest are built.
 *
 * With a `group` factory, rows are kept in groups of a few dozen (elements the list holds, in order), which a
 * stylesheet can give `content-visibility: auto`: the browser then styles, lays out and paints only the groups
 * near the screen, whatever the rows elsewhere do, and a group tells its size from `--rows` (its rows shown) and
 * hides itself when none is. Every row stays in the document, so keyboard focus, find in page and screen readers
 * reach all of them. Imports nothing.
 */

// Building later: rows are built a task at a time, each task as many as fit in this many ms (about 150 rows on
// an idle 2-vCPU VM, fewer when the machine is busy), well under a long task (50 ms); tasks follow each other
// through a MessageChannel, which unlike chained setTimeout calls (4 ms apart after the fifth) waits for nothing.
const BUILD_BUDGET_MS = 16;
const GROUP_ROWS = 32; // a group holds up to twice this many rows; a fuller one is split in two

export class RowList {
  /**
   * @param {HTMLElement} list  the element whose children are the rows (e.g. an <ol>).
   * @param {object} options
   * @param {(a: {id: string, value: *}, b: {id: string, value: *}) => number} options.compare  the order;
   *   never 0 for two different ids.
   * @param {(id: string, value: *) => HTMLElement} options.build  the element of one item.
   * @param {string} [options.focusable]  a selector of the control inside a row that keeps the focus when
   *   its row is rebuilt.
   * @param {() => HTMLElement} [options.group]  makes an (empty) group element; without it the rows are the
   *   list's own children.
   * @param {number} [options.groupRows]  rows per group after a split.
   */
  constructor(list, { compare, build, focusable = null, group = null, groupRows = GROUP_ROWS }) {
    this.list = list;
    this.compare = compare;
    this.build = build;
    this.focusable = focusable;
    this.makeGroup = group;
    this.groupRows = groupRows;
    this.whole = { el: list, size: 0, shown: 0 }; // the one "group" when rows are the list's children
    this.items = new Map(); // id -> {id, value, el, shown, group}; el is null until built
    this.order = []; // items, sorted
    this.accepts = () => true;
    this.shownCount = 0;
    this.unbuilt = 0;
    this.timer = null;
  }

  /** How many items there are, shown or not. */
  get size() {
    return this.items.size;
  }

  /** How many items the filter shows. */
  get shown() {
    return this.shownCount;
  }

  has(id) {
    return this.items.has(id);
  }

  /** The value of an item, or undefined. */
  get(id) {
    return this.items.get(id)?.value;
  }

  /** The row of an item, or undefined (also while it waits to be built). */
  element(id) {
    return this.items.get(id)?.el ?? undefined;
  }

  /** Every item in order: fn(id, value, element or null while it waits to be built). */
  forEach(fn) {
    for (const item of this.order) fn(item.id, item.value, item.el);
  }

  /**
   * Add an item, or give it a new value (its row is rebuilt and moved to its place; nothing else changes).
   *
   * @param {string} id
   * @param {*} value
   * @param {{later?: boolean}} [options]  later: build the row in a later task (see buildNow).
   * @returns {boolean} whether anything changed.
   */
  set(id, value, { later = false } = {}) {
    const old = this.items.get(id);
    if (old && old.value === value) return false;
    const focused = old?.el ? this._focusedIn(old.el) : false;
    if (old) this._take(old);
    const item = { id, value, el: null, shown: this.accepts(value), group: null };
    this.items.set(id, item);
    const index = this._position(item);
    this.order.splice(index, 0, item);
    if (item.shown) this.shownCount += 1;
    this._join(item, index);
    if (later) {
      this.unbuilt += 1;
      this._schedule();
      return true;
    }
    this._build(item, index);
    if (focused) item.el.querySelector(this.focusable)?.focus({ preventScroll: true });
    return true;
  }

  /** Build the first `max` shown rows still waiting to be built (the rest follow, a chunk per task). */
  buildNow(max) {
    this._buildWaiting(max, true);
  }

  /** Remove an item (and its row). @returns {boolean} whether it was there. */
  delete(id) {
    const item = this.items.get(id);
    if (!item) return false;
    this._take(item);
    return true;
  }

  /** Remove every item. */
  clear() {
    this.items.clear();
    this.order = [];
    this.shownCount = 0;
    this.unbuilt = 0;
    this.timer = null; // a build task already queued finds it is not the current one, and does nothing
    this.whole = { el: this.list, size: 0, shown: 0 };
    this.list.replaceChildren();
  }

  /**
   * Show only the items `accepts(value)` keeps. Rows that stay shown or stay hidden are not touched.
   *
   * @param {(value: *) => boolean} accepts
   */
  filter(accepts) {
    this.accepts = accepts;
    let group = null;
    let cursor = null;
    this.shownCount = 0;
    for (const item of this.order) {
      if (item.group !== group) {
        if (group) this._drawGroup(group);
        group = item.group;
        group.shown = 0;
        cursor = group.el.firstChild;
      }
      item.shown = accepts(item.value);
      if (item.shown) {
        this.shownCount += 1;
        group.shown += 1;
      }
      if (!item.el) continue; // placed when it is built
      if (item.el === cursor) cursor = cursor.nextSibling;
      if (!item.shown) item.el.remove();
      else if (item.el.parentNode !== group.el || item.el.nextSibling !== cursor) group.el.insertBefore(item.el, cursor);
    }
    if (group) this._drawGroup(group);
  }

  // ---- private -------------------------------------------------------------------------------

  _take(item) {
    const index = this.order.indexOf(item);
    if (index >= 0) this.order.splice(index, 1);
    this.items.delete(item.id);
    if (item.shown) this.shownCount -= 1;
    if (item.el) item.el.remove();
    else this.unbuilt -= 1;
    const { group } = item;
    group.size -= 1;
    if (item.shown) group.shown -= 1;
    if (group.size === 0 && group !== this.whole) group.el.remove();
    else this._drawGroup(group);
  }

  /** Put the item just placed at `index` in the group of a neighbour (splitting that when full), or a new one. */
  _join(item, index) {
    if (!this.makeGroup) {
      item.group = this.whole;
    } else {
      const neighbour = this.order[index - 1] ?? this.order[index + 1];
      if (neighbour) {
        item.group = neighbour.group;
      } else {
        item.group = { el: this.makeGroup(), size: 0, shown: 0, drawn: null };
        this.list.append(item.group.el);
      }
    }
    const { group } = item;
    group.size += 1;
    if (item.shown) group.shown += 1;
    if (group !== this.whole && group.size > 2 * this.groupRows) this._split(group, index);
    else this._drawGroup(group);
  }

  /** Move the second half of a full group's rows (`index` is one of its items) to a new group after it. */
  _split(group, index) {
    let start = index;
    while (start > 0 && this.order[start - 1].group === group) start -= 1;
    const half = { el: this.makeGroup(), size: 0, shown: 0, drawn: null };
    group.el.after(half.el);
    for (let i = start + this.groupRows; i < start + group.size; i += 1) {
      const item = this.order[i];
      item.group = half;
      half.size += 1;
      if (item.shown) {
        half.shown += 1;
        if (item.el) half.el.append(item.el);
      }
    }
    group.size -= half.size;
    group.shown -= half.shown;
    this._drawGroup(group);
    this._drawGroup(half);
  }

  /** Tell a group's element how many rows it shows (its size while off screen), and hide it when none. */
  _drawGroup(group) {
    if (group === this.whole || group.drawn === group.shown) return;
    group.drawn = group.shown;
    group.el.hidden = group.shown === 0;
    group.el.style.setProperty("--rows", String(group.shown));
  }

  /** Build the row of the item at `index` and put it in its place if it is shown. */
  _build(item, index) {
    item.el = this.build(item.id, item.value);
    if (item.shown) item.group.el.insertBefore(item.el, this._nextShownElement(index));
  }

  /** Build up to `max` waiting rows, top first: only shown ones, or any; stop at `deadline` (performance.now()). */
  _buildWaiting(max, shownOnly, deadline = Infinity) {
    for (let i = 0; i < this.order.length && max > 0 && this.unbuilt > 0; i += 1) {
      const item = this.order[i];
      if (item.el || (shownOnly && !item.shown)) continue;
      this.unbuilt -= 1;
      this._build(item, i);
      max -= 1;
      if (deadline !== Infinity && performance.now() >= deadline) break;
    }
  }

  _schedule() {
    if (this.timer !== null) return;
    const task = {};
    this.timer = task;
    nextTask(() => {
      if (this.timer !== task) return; // cleared meanwhile
      this.timer = null;
      this._buildWaiting(Infinity, false, performance.now() + BUILD_BUDGET_MS);
      if (this.unbuilt > 0) this._schedule();
    });
  }

  /** Where `item` goes in the order (binary search). */
  _position(item) {
    let low = 0;
    let high = this.order.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.compare(this.order[middle], item) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** The element of the first shown, built item after the one at `index` in its group, or null (the group's end). */
  _nextShownElement(index) {
    const { group } = this.order[index];
    for (let i = index + 1; i < this.order.length && this.order[i].group === group; i += 1) {
      if (this.order[i].shown && this.order[i].el) return this.order[i].el;
    }
    return null;
  }

  _focusedIn(el) {
    return Boolean(this.focusable) && el.contains(document.activeElement);
  }
}

/** Run `fn` in a task of its own, soon: after the tasks already queued, with no timer's delay. */
const nextTask = (() => {
  if (typeof MessageChannel !== "function") return (fn) => setTimeout(fn);
  const channel = new MessageChannel();
  const waiting = [];
  channel.port1.onmessage = () => waiting.shift()?.();
  return (fn) => {
    waiting.push(fn);
    channel.port2.postMessage(null);
  };
})();
