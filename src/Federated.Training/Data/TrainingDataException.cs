namespace Federated.Training.Data;

/// <summary>
/// A training data file is malformed; the message starts with "file:line:" (1-based line) when a line is at fault.
/// An <see cref="IOException"/> (like protobuf's parse errors) so commands report it as a bad input file.
/// </summary>
public class TrainingDataException(string filePath, int? lineNumber, string detail)
    : IOException(lineNumber is { } line ? $"{filePath}:{line}: {detail}" : $"{filePath}: {detail}")
{
    public string FilePath { get; } = filePath;

    public int? LineNumber { get; } = lineNumber;
}
