using Federated.Training.Tokenization;

namespace Federated.Training.Data;

/// <summary>
/// Instruction examples ready for training: <c>bos + prompt + answer + eos</c> (BOS/EOS only if the tokenizer has them),
/// prompt and answer tokenized separately, with BOS and prompt labels set to <see cref="TrainingExample.IgnoreIndex"/>
/// so only the answer and EOS count in the loss.
/// Longer than <c>maxLength</c>: the answer is cut at its end (EOS dropped, since the answer is incomplete), keeping at
/// least one answer token; an example whose BOS + prompt leaves no room for one is skipped and counted in <see cref="Skipped"/>.
/// </summary>
public sealed record InstructionDataset(IReadOnlyList<TrainingExample> Examples, int Skipped)
{
    /// <exception cref="TrainingDataException">A line of the file is not a valid example.</exception>
    public static InstructionDataset Load(string jsonlPath, ITextTokenizer tokenizer, int maxLength) =>
        Build(InstructionJsonlReader.ReadFile(jsonlPath), tokenizer, maxLength);

    public static InstructionDataset Build(IEnumerable<InstructionRecord> records, ITextTokenizer tokenizer, int maxLength)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 2);
        var examples = new List<TrainingExample>();
        var skipped = 0;
        foreach (var record in records)
        {
            if (ToExample(record, tokenizer, maxLength) is { } example)
                examples.Add(example);
            else
                skipped++;
        }
        return new InstructionDataset(examples, skipped);
    }

    /// <returns>The example, or null when the prompt leaves no room for an answer token or there is nothing to learn.</returns>
    public static TrainingExample? ToExample(InstructionRecord record, ITextTokenizer tokenizer, int maxLength)
    {
        var context = new List<int>();
        if (tokenizer.BosId is { } bos)
            context.Add(bos);
        context.AddRange(tokenizer.Encode(PromptTemplate.Format(record)));

        var target = new List<int>(tokenizer.Encode(record.Output));
        if (tokenizer.EosId is { } eos)
            target.Add(eos);

        var room = maxLength - context.Count;
        if (room < 1 || target.Count == 0)
            return null;
        if (target.Count > room)
            target.RemoveRange(room, target.Count - room);

        var inputIds = context.Concat(target).ToArray();
        var labels = Enumerable.Repeat(TrainingExample.IgnoreIndex, context.Count).Concat(target).ToArray();
        return new TrainingExample(inputIds, labels);
    }
}
