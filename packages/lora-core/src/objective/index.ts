/** Training objectives on a backbone. causal-lm: next-token loss for decoders (SFT and plain LM). */
export * from './causal-lm';
