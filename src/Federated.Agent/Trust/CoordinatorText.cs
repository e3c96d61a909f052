using System.Globalization;
using System.Text;

namespace Federated.Agent.Trust;

/// <summary>Strings from the coordinator: bounded before use, and quoted in logs only escaped and shortened.</summary>
public static class CoordinatorText
{
    /// <summary>The characters of a value quoted in a log line or refusal.</summary>
    public const int PreviewLength = 64;

    /// <exception cref="CoordinatorInputException">Longer than <paramref name="maxLength"/>, or holds a control character.</exception>
    public static string Bounded(string value, string what, int maxLength, bool allowEmpty = true)
    {
        if (value.Length == 0 && !allowEmpty)
            throw new CoordinatorInputException($"{what} is empty");
        if (value.Length > maxLength)
            throw new CoordinatorInputException($"{what} is {value.Length:N0} characters long, over the {maxLength:N0} allowed ('{Preview(value)}')");
        if (value.Any(char.IsControl))
            throw new CoordinatorInputException($"{what} holds control characters ('{Preview(value)}')");
        return value;
    }

    /// <summary>At most <paramref name="length"/> characters, control characters escaped (\n, \u001b), so a value cannot forge a log line.</summary>
    public static string Preview(string? value, int length = PreviewLength)
    {
        if (string.IsNullOrEmpty(value)) return "";
        var text = new StringBuilder(Math.Min(value.Length, length) + 8);
        foreach (char c in value.AsSpan(0, Math.Min(value.Length, length)))
            text.Append(c switch
            {
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                _ when char.IsControl(c) || char.IsSurrogate(c) => "\\u" + ((int)c).ToString("x4", CultureInfo.InvariantCulture),
                _ => c.ToString(),
            });
        if (value.Length > length) text.Append($"... ({value.Length:N0} characters)");
        return text.ToString();
    }
}
