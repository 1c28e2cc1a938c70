/** One labeled example as read from a source (WordNet, a user's file). */
export interface LabeledText {
  readonly text: string;
  readonly label: string;
}

/** Texts with integer class ids; labels[i] indexes classNames and belongs to texts[i]. */
export interface LabeledDataset {
  readonly texts: string[];
  readonly labels: Int32Array;
  readonly classNames: string[];
}
