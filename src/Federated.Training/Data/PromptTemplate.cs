namespace Federated.Training.Data;

/// <summary>
/// The fixed prompt every instruction example is trained with (Alpaca's section layout, without its preamble):
/// <code>
/// ### Instruction:
/// {instruction}
///
/// ### Input:
/// {input}
///
/// ### Response:
/// </code>
/// followed by a newline; the Input section is left out when the input is empty. The answer follows the prompt directly.
/// </summary>
public static class PromptTemplate
{
    public static string Format(InstructionRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        return record.Input.Length == 0
            ? $"### Instruction:\n{record.Instruction}\n\n### Response:\n"
            : $"### Instruction:\n{record.Instruction}\n\n### Input:\n{record.Input}\n\n### Response:\n";
    }
}
