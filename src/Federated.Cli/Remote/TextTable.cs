namespace Federated.Cli.Remote;

/// <summary>Columns padded to their widest cell, two spaces apart; numbers right-aligned.</summary>
sealed class TextTable(params string[] headers)
{
    readonly List<string[]> _rows = [];

    public void Add(params string[] cells) => _rows.Add(cells);

    public void Write(TextWriter output)
    {
        int[] widths = headers.Select((h, i) => _rows.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();
        bool[] numeric = headers.Select((_, i) => _rows.Count > 0 && _rows.All(r => IsNumber(r[i]))).ToArray();
        output.WriteLine(Line(headers));
        foreach (var row in _rows)
            output.WriteLine(Line(row));

        string Line(string[] cells) => string.Join("  ", cells.Select((c, i) => numeric[i] ? c.PadLeft(widths[i]) : c.PadRight(widths[i]))).TrimEnd();
    }

    static bool IsNumber(string cell) => cell is "-" || double.TryParse(cell, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _);
}
