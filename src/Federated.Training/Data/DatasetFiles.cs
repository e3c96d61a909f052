using Federated.Training.Tokenization;

namespace Federated.Training.Data;

/// <summary>Reads a data file by its kind: <c>.jsonl</c> instruction data (prompt masked), anything else plain text.</summary>
public static class DatasetFiles
{
    public static IReadOnlyList<TrainingExample> Load(string path, ITextTokenizer tokenizer, int contextLength)
    {
        if (!File.Exists(path)) throw new TrainingDataException(path, null, "the data file does not exist");
        var examples = Path.GetExtension(path).Equals(".jsonl", StringComparison.OrdinalIgnoreCase)
            ? InstructionDataset.Load(path, tokenizer, contextLength).Examples
            : PlainTextChunker.ReadFile(path, tokenizer, contextLength);
        return examples.Count > 0 ? examples : throw new TrainingDataException(path, null, "holds no usable example");
    }
}
