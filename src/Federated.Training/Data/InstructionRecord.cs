namespace Federated.Training.Data;

/// <summary>One instruction-tuning example: Alpaca's instruction/input/output or Dolly's instruction/context/response.</summary>
/// <param name="Input">Extra context for the instruction; empty when the example has none.</param>
public sealed record InstructionRecord(string Instruction, string Input, string Output);
