namespace Federated.Training.Data.Corpora;

/// <summary>
/// One instruction example tagged with the natural domain it comes from (a WordNet lexicographer file, a fortune
/// language, a user's file or "domain" field): the unit that simulations partition among virtual clients.
/// </summary>
/// <param name="Domain">A non-empty name; partitions group by it with ordinal comparison.</param>
/// <param name="Input">Extra context for the instruction; empty when there is none.</param>
public sealed record DomainExample(string Domain, string Instruction, string Input, string Output)
{
    /// <summary>The example without its domain, as the training engine's instruction data takes it.</summary>
    public InstructionRecord Record => new(Instruction, Input, Output);
}
